//go:build linux

package packaging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// built is what package.sh made for one version.
type built struct {
	dir, deb, rpm, image string
}

var (
	buildMu sync.Mutex
	builds  = map[string]built{}
)

// buildPackages runs package.sh as `make package` does, once per version
// per test binary, into a folder removed when the tests end (TestMain).
func buildPackages(t *testing.T, version string) built {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := builds[version]; ok {
		return b
	}
	if _, err := os.Stat("../core/builtinwasm/wasm/builtin.wasm"); err != nil {
		if testenv.InCI() {
			t.Fatalf("the built-in WASM bundle is missing (make wasm): %v", err)
		}
		t.Skipf("the built-in WASM bundle is missing (make wasm): %v", err)
	}
	dir := filepath.Join(workDir, version)
	start := time.Now()
	cmd := exec.Command("bash", "package.sh", dir, version)
	// The build date comes from the last commit; a fixed one keeps the test
	// independent of git.
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767225600")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("package.sh %s: %v\n%s", version, err, out)
	}
	t.Logf("built the %s packages in %s", version, time.Since(start).Round(time.Millisecond))
	b := built{dir: dir, image: filepath.Join(dir, "image")}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dir, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("package.sh made %v and %v, want one .deb and one .rpm", debs, rpms)
	}
	b.deb, b.rpm = debs[0], rpms[0]
	builds[version] = b
	return b
}

var workDir string

func TestMain(m *testing.M) {
	var err error
	workDir, err = os.MkdirTemp("", "barbossa-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// machine runs commands and HTTP requests inside a booted container.
type machine struct {
	t *testing.T
	s *testenv.Systemd
}

// sh runs a shell script inside the container (all its namespaces) as
// root, and returns its output and error.
func (m machine) sh(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--target", fmt.Sprint(m.s.Pid()), "--all", "--",
		"/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
		"SYSTEMD_PAGER=", "/bin/sh", "-c", script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a script that must succeed.
func (m machine) must(script string) string {
	m.t.Helper()
	out, err := m.sh(script)
	if err != nil {
		m.t.Fatalf("in the container: %s: %v\n%s", script, err, out)
	}
	return out
}

// journal is the agent's log, for failure messages.
func (m machine) journal() string {
	out, _ := m.sh("journalctl -u barbossa.service --no-pager -n 80")
	return out
}

// http makes requests inside the container's network namespace (it has
// only its own loopback), through sockets opened there.
func (m machine) http() *http.Client {
	pid := m.s.Pid()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			type result struct {
				c   net.Conn
				err error
			}
			ch := make(chan result, 1)
			go func() {
				// The thread joins the container's network namespace and is
				// never given back: a goroutine that ends locked ends its
				// thread too. The socket stays in the namespace it was made in.
				runtime.LockOSThread()
				fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					ch <- result{nil, err}
					return
				}
				defer unix.Close(fd)
				if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
					ch <- result{nil, fmt.Errorf("setns: %w", err)}
					return
				}
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				ch <- result{c, err}
			}()
			r := <-ch
			return r.c, r.err
		},
	}}
}

// get fetches a path of the agent's portal in the container.
func (m machine) get(path string) (int, []byte, error) {
	resp, err := m.http().Get("http://127.0.0.1:8080" + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// until polls cond (a system in another container, on the real clock)
// until it holds, failing after d with the agent's journal.
func (m machine) until(d time.Duration, what string, cond func() bool) {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out after %s waiting for %s\n%s", d, what, m.journal())
		}
		time.Sleep(200 * time.Millisecond) // another machine's services: polled on the real clock
	}
}

// show reads unit properties: systemctl show -p A,B --value.
func (m machine) show(props ...string) map[string]string {
	m.t.Helper()
	out := m.must("systemctl show barbossa.service -p " + strings.Join(props, ","))
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	return got
}

// copyIn puts a host file into the container's /root.
func (m machine) copyIn(path string) string {
	m.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		m.t.Fatal(err)
	}
	dst := filepath.Join(m.s.Root(), "root", filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		m.t.Fatal(err)
	}
	return "/root/" + filepath.Base(path)
}

// count says how many times s holds sub.
func count(s []byte, sub string) int { return bytes.Count(s, []byte(sub)) }
