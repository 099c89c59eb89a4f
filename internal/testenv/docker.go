//go:build linux

package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Docker is a private Docker Engine (Debian's dockerd) started for one test:
// its own data root, exec root, unix socket and containerd namespace, no
// iptables and no bridge (containers run with network mode "none").
type Docker struct {
	in     *instance
	socket string
	driver string
	cmd    *exec.Cmd
	exited chan struct{} // closed when dockerd has exited and been reaped
	client *http.Client

	imageOnce sync.Once
	image     string
	imageErr  error
}

// Dockerd is the daemon binary StartDocker runs (Debian's docker.io package).
const Dockerd = "/usr/sbin/dockerd"

// dockerStorageDrivers are tried in order. overlay2 works on this sandbox's
// ext4 /tmp; vfs (full copies, slow but works anywhere) is the fallback for a
// filesystem overlayfs refuses as upper dir. BARBOSSA_DOCKER_STORAGE_DRIVER
// forces one.
var dockerStorageDrivers = []string{"overlay2", "vfs"}

// StartDocker starts dockerd for this test and waits until it answers
// /_ping. A t.Cleanup removes all containers, stops dockerd and containerd,
// kills whatever is left in its cgroup and removes its mounts and directory.
func StartDocker(t testing.TB) *Docker {
	t.Helper()
	requireRoot(t)
	for _, bin := range []string{Dockerd, "containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := lookTool(bin); err != nil {
			missing(t, bin+" (Debian package docker.io)", installHint+" or apt-get install --no-install-recommends docker.io")
		}
	}
	drivers := dockerStorageDrivers
	if v := os.Getenv("BARBOSSA_DOCKER_STORAGE_DRIVER"); v != "" {
		drivers = []string{v}
	}
	var errs []error
	for _, drv := range drivers {
		d, err := startDocker(drv)
		if err == nil {
			t.Cleanup(func() {
				if err := d.stop(); err != nil {
					t.Errorf("testenv: stop dockerd: %v", err)
				}
			})
			t.Logf("testenv: dockerd (pid %d, storage %s) on %s", d.Pid(), drv, d.socket)
			return d
		}
		errs = append(errs, fmt.Errorf("storage driver %s: %w", drv, err))
	}
	t.Fatalf("testenv: start dockerd: %v", errors.Join(errs...))
	return nil
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "root (the harness mounts, creates cgroups and starts daemons)", "run the tests as root")
	}
}

func startDocker(driver string) (*Docker, error) {
	in, err := newInstance("docker")
	if err != nil {
		return nil, err
	}
	d := &Docker{in: in, socket: in.path("docker.sock"), driver: driver, exited: make(chan struct{})}
	d.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.socket)
		},
		// Every test gets a fresh daemon; no point keeping idle conns around
		// after it is gone.
		MaxIdleConns:    4,
		IdleConnTimeout: 5 * time.Second,
	}}
	if err := d.start(); err != nil {
		if rerr := in.reap(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", rerr))
		}
		return nil, err
	}
	return d, nil
}

func (d *Docker) start() error {
	in := d.in
	cgdirs, err := createTrackingCgroups(in.Cgroup, "daemon")
	if err != nil {
		return err
	}
	logf, err := os.Create(in.path("dockerd.log"))
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer logf.Close()
	args := []string{
		"-c", cgroupWrapper, "sh", Dockerd,
		"--data-root", in.path("data"),
		"--exec-root", in.path("x"),
		"--pidfile", in.path("docker.pid"),
		"-H", "unix://" + d.socket,
		"--storage-driver", d.driver,
		// No host networking changes: containers only need to run.
		"--iptables=false", "--ip-masq=false", "--bridge=none",
		// Containers land in our cgroup, so the reaper finds them even if
		// dockerd died without stopping them.
		"--cgroup-parent", "/" + in.Cgroup,
		// dockerd uses a running system containerd if there is one; a
		// namespace of our own keeps our containers apart from its others.
		"--containerd-namespace", in.Cgroup,
		"--containerd-plugins-namespace", in.Cgroup + "-plugins",
		"--log-level", "warn",
		"--userland-proxy=false",
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = childEnv("BARBOSSA_TESTENV_CGROUPS=" + strings.Join(cgdirs, ":"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	d.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("dockerd exited during start (%s):\n%s", cmd.ProcessState, tail(in.path("dockerd.log"), 20))
		case <-ctx.Done():
			return fmt.Errorf("dockerd not answering /_ping after 60s:\n%s", tail(in.path("dockerd.log"), 20))
		case <-time.After(50 * time.Millisecond):
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := d.API(pctx, http.MethodGet, "/_ping", nil, nil)
		pcancel()
		if err == nil {
			return nil
		}
	}
}

// stop is the orderly shutdown: containers removed through the API (paused
// ones too), SIGTERM to dockerd (which stops its containerd), then the
// reaper for anything left.
func (d *Docker) stop() error {
	var errs []error
	select {
	case <-d.exited:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var list []struct{ ID string }
		if err := d.API(ctx, http.MethodGet, "/containers/json?all=1", nil, &list); err != nil {
			errs = append(errs, fmt.Errorf("list containers: %w", err))
		}
		for _, c := range list {
			if err := d.API(ctx, http.MethodDelete, "/containers/"+c.ID+"?force=1&v=1", nil, nil); err != nil {
				errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
			}
		}
		cancel()
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			errs = append(errs, errors.New("dockerd ignored SIGTERM for 20s; killed"))
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	}
	d.client.CloseIdleConnections()
	if err := d.in.reap(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Socket is the path of the daemon's unix socket.
func (d *Docker) Socket() string { return d.socket }

// Host is the socket as DOCKER_HOST wants it: "unix:///...".
func (d *Docker) Host() string { return "unix://" + d.socket }

// Pid is the pid of dockerd.
func (d *Docker) Pid() int { return d.cmd.Process.Pid }

// Dir is the instance directory (data root, exec root, socket, dockerd.log).
func (d *Docker) Dir() string { return d.in.Dir }

// Cgroup is the name of the cgroup, below the root of each hierarchy, that
// holds dockerd (in <name>/daemon) and every container (<name>/<id>).
func (d *Docker) Cgroup() string { return d.in.Cgroup }

// StorageDriver is the storage driver that dockerd runs with.
func (d *Docker) StorageDriver() string { return d.driver }

// HTTPClient returns a client that sends every request to the daemon's
// socket, whatever the URL's host: use "http://docker/v1.41/...".
func (d *Docker) HTTPClient() *http.Client { return d.client }

// APIError is a non-2xx answer of the Engine API.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("docker %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// API sends one Engine API request. in, if not nil, is sent as JSON (or as
// is when it is an io.Reader); out, if not nil, receives the JSON answer.
// path is the part after the host, with query: "/containers/json?all=1".
func (d *Docker) API(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	switch v := in.(type) {
	case nil:
	case io.Reader:
		body, ctype = v, "application/x-tar"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: m.Message}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("docker %s %s: read answer: %w", method, path, err)
	}
	return nil
}

// removeShimSocket removes the socket a containerd-shim-runc-v2 leaves in
// /run/containerd/s when it is SIGKILLed.
func removeShimSocket(cmdline []string) {
	if sock := shimSocket(cmdline); sock != "" {
		_ = os.Remove(sock)
	}
}

// shimSocket returns the socket path of the shim with this command line, or
// "" if it is no containerd-shim-runc-v2. containerd names the socket
// sha256(address/namespace/id) (runtime/v2/shim.SocketAddress, 1.6).
func shimSocket(cmdline []string) string {
	if len(cmdline) == 0 || !strings.HasSuffix(cmdline[0], "containerd-shim-runc-v2") {
		return ""
	}
	var ns, id, addr string
	for i := 1; i+1 < len(cmdline); i++ {
		switch cmdline[i] {
		case "-namespace":
			ns = cmdline[i+1]
		case "-id":
			id = cmdline[i+1]
		case "-address":
			addr = cmdline[i+1]
		}
	}
	if ns == "" || id == "" || addr == "" {
		return ""
	}
	return shimSocketPath(addr, ns, id)
}

func shimSocketPath(addr, ns, id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(addr, ns, id)))
	return fmt.Sprintf("/run/containerd/s/%x", sum)
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
