//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// The units every StartSystemd container has, both enabled in
// multi-user.target: one that runs and one that fails at boot.
const (
	RunningUnit = "barbossa-test-running.service" // ExecStart=/bin/sleep infinity: active (running)
	FailingUnit = "barbossa-test-failing.service" // ExecStart=/bin/false: failed
)

// Unit is a unit file to install into the container's /etc/systemd/system
// before it boots.
type Unit struct {
	Name    string // "web.service", "backup.timer", ...
	Content string // the unit file
	// Enable links it into multi-user.target.wants, so it starts at boot.
	Enable bool
}

var defaultUnits = []Unit{
	{Name: RunningUnit, Enable: true, Content: `[Unit]
Description=Barbossa test unit that runs
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
`},
	{Name: FailingUnit, Enable: true, Content: `[Unit]
Description=Barbossa test unit that fails
[Service]
ExecStart=/bin/false
[Install]
WantedBy=multi-user.target
`},
}

// Systemd is a real systemd (PID 1 of a container) booted with
// systemd-nspawn from the cached Debian rootfs, for one test.
type Systemd struct {
	in      *instance
	root    string
	overlay bool
	cmd     *exec.Cmd
	exited  chan struct{}
	pid     int
	bootDur time.Duration
}

// StartSystemd boots systemd in a container and waits until it has finished
// booting (SystemState running or degraded, over D-Bus). The container has
// RunningUnit and FailingUnit, plus the extra units given. A t.Cleanup halts
// it (killing it if the halt takes over 10s), and removes its processes,
// cgroups, mounts and directory.
//
// The first call on a machine debootstraps the rootfs (see Rootfs).
func StartSystemd(t testing.TB, extra ...Unit) *Systemd {
	t.Helper()
	requireRoot(t)
	if _, err := lookTool("systemd-nspawn"); err != nil {
		missing(t, "systemd-nspawn (Debian package systemd-container)",
			installHint+" or apt-get install --no-install-recommends systemd-container")
	}
	lower := Rootfs(t)
	s, err := startSystemd(lower, append(append([]Unit(nil), defaultUnits...), extra...))
	if err != nil {
		t.Fatalf("testenv: boot systemd: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("testenv: stop systemd: %v", err)
		}
	})
	t.Logf("testenv: systemd (machine %s, init pid %d) booted in %s", s.in.Machine, s.pid, s.bootDur.Round(time.Millisecond))
	return s
}

func startSystemd(lower string, units []Unit) (*Systemd, error) {
	in, err := newInstance("systemd")
	if err != nil {
		return nil, err
	}
	s := &Systemd{in: in, root: in.path("root"), exited: make(chan struct{})}
	if err := s.boot(lower, units); err != nil {
		if s.cmd != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			if s.pid > 0 {
				_ = syscall.Kill(s.pid, syscall.SIGKILL)
			}
			<-s.exited
		}
		if rerr := in.reap(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", rerr))
		}
		return nil, err
	}
	return s, nil
}

// prepareRoot makes the container's root: an overlay whose lower dir is the
// cached rootfs (instant, and the cache stays untouched), or a copy where
// overlayfs is refused.
func (s *Systemd) prepareRoot(lower string) error {
	upper, work := s.in.path("upper"), s.in.path("work")
	for _, d := range []string{s.root, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	err := syscall.Mount("overlay", s.root, "overlay", 0, opts)
	if err == nil {
		s.overlay = true
		return nil
	}
	if out, cerr := exec.Command("cp", "-a", "--reflink=auto", lower+"/.", s.root).CombinedOutput(); cerr != nil {
		return fmt.Errorf("mount overlay: %w; copy rootfs: %w: %s", err, cerr, out)
	}
	return nil
}

func installUnits(root string, units []Unit) error {
	etc := filepath.Join(root, "etc/systemd/system")
	wants := filepath.Join(etc, "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", wants, err)
	}
	for _, u := range units {
		if u.Name == "" || strings.Contains(u.Name, "/") {
			return fmt.Errorf("bad unit name %q", u.Name)
		}
		if err := os.WriteFile(filepath.Join(etc, u.Name), []byte(u.Content), 0o644); err != nil {
			return fmt.Errorf("write unit %s: %w", u.Name, err)
		}
		if u.Enable {
			link := filepath.Join(wants, u.Name)
			_ = os.Remove(link)
			if err := os.Symlink("../"+u.Name, link); err != nil {
				return fmt.Errorf("enable unit %s: %w", u.Name, err)
			}
		}
	}
	return nil
}

func (s *Systemd) boot(lower string, units []Unit) error {
	start := time.Now()
	if err := s.prepareRoot(lower); err != nil {
		return err
	}
	if err := installUnits(s.root, units); err != nil {
		return err
	}
	// nspawn creates payload/ and supervisor/ below its own cgroup; it
	// must have one of its own or concurrent containers would share them.
	cgdirs, err := createTrackingCgroups(s.in.Cgroup, "")
	if err != nil {
		return err
	}
	logf, err := os.Create(s.in.path("nspawn.log"))
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("/bin/sh", "-c", cgroupWrapper, "sh",
		"systemd-nspawn",
		"--directory", s.root,
		"--boot",
		"--machine", s.in.Machine,
		// There is no systemd on the host to register with or to ask for a
		// scope: nspawn stays in the cgroup it was started in.
		"--register=no", "--keep-unit",
		// Its own network namespace with only lo: the container cannot
		// touch the host's network, and needs none.
		"--private-network",
		// Boot messages go to nspawn.log (read-only console) for debugging.
		"--console=read-only",
		"--link-journal=no",
	)
	cmd.Env = childEnv("BARBOSSA_TESTENV_CGROUPS=" + strings.Join(cgdirs, ":"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-nspawn: %w", err)
	}
	s.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.Now().Add(90 * time.Second)
	state := "(no init yet)"
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("systemd-nspawn exited during boot (%s):\n%s", cmd.ProcessState, tail(s.in.path("nspawn.log"), 25))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not booted after 90s (last state %s):\n%s", state, tail(s.in.path("nspawn.log"), 25))
		}
		if s.pid == 0 {
			s.pid = s.findInit()
			continue
		}
		if _, err := os.Stat(s.busSocket()); err != nil {
			state = "(no bus socket yet)"
			continue
		}
		st, err := systemState(s.BusAddress())
		if err != nil {
			state = err.Error()
			continue
		}
		state = st
		if st == "running" || st == "degraded" {
			s.bootDur = time.Since(start)
			return nil
		}
	}
}

// findInit returns the container's PID 1 (as a host pid): the child of
// systemd-nspawn that runs systemd.
func (s *Systemd) findInit() int {
	kids, err := childrenOf(s.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	for _, k := range kids {
		if k.Comm == "systemd" {
			return k.PID
		}
	}
	return 0
}

// systemState asks the manager for SystemState over a fresh connection.
func systemState(addr string) (string, error) {
	conn, err := dbus.Connect(addr)
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	v, err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		GetProperty("org.freedesktop.systemd1.Manager.SystemState")
	if err != nil {
		return "", fmt.Errorf("get SystemState: %w", err)
	}
	st, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("SystemState is %s, not a string", v.Signature())
	}
	return st, nil
}

// stop halts the container (SIGTERM to nspawn makes it send SIGRTMIN+3 to
// systemd), kills it if the halt hangs, then reaps the instance.
func (s *Systemd) stop() error {
	var errs []error
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("container did not halt within 10s; killed"))
			// SIGKILL to a pid namespace's init kills the whole namespace.
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	if err := s.in.reap(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Systemd) busSocket() string {
	return fmt.Sprintf("/proc/%d/root/run/dbus/system_bus_socket", s.pid)
}

// BusAddress is the container's system bus as a D-Bus address,
// "unix:path=/proc/<init pid>/root/run/dbus/system_bus_socket": reachable
// from the host through /proc although the socket lives in the container's
// mount namespace. Root on the host is root in the container (no user
// namespace), so EXTERNAL auth works as is.
func (s *Systemd) BusAddress() string { return "unix:path=" + s.busSocket() }

// Pid is the host pid of the container's init (systemd).
func (s *Systemd) Pid() int { return s.pid }

// NspawnPid is the pid of systemd-nspawn.
func (s *Systemd) NspawnPid() int { return s.cmd.Process.Pid }

// Machine is the container's machine name (and hostname).
func (s *Systemd) Machine() string { return s.in.Machine }

// Root is the container's root directory as seen from the host. Unit files
// written to Root()/etc/systemd/system are picked up after a Reload.
func (s *Systemd) Root() string { return s.root }

// Dir is the instance directory (root, overlay upper dir, nspawn.log).
func (s *Systemd) Dir() string { return s.in.Dir }

// Cgroup is the name of the cgroup, below the root of the v2 and
// name=systemd hierarchies, that holds systemd-nspawn and the container.
func (s *Systemd) Cgroup() string { return s.in.Cgroup }

// BootDuration is how long StartSystemd took from preparing the root to
// systemd reporting it had booted.
func (s *Systemd) BootDuration() time.Duration { return s.bootDur }

// Connect opens a connection to the container's system bus (closed at
// cleanup) and fails the test if it cannot.
func (s *Systemd) Connect(t testing.TB) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(s.BusAddress())
	if err != nil {
		t.Fatalf("testenv: connect to %s: %v", s.BusAddress(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
