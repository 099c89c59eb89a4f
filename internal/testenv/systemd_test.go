//go:build linux

package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// unitStatus is one entry of org.freedesktop.systemd1.Manager.ListUnits,
// a(ssssssouso).
type unitStatus struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

func listUnits(t *testing.T, conn *dbus.Conn) map[string]unitStatus {
	t.Helper()
	var units []unitStatus
	err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		Call("org.freedesktop.systemd1.Manager.ListUnits", 0).Store(&units)
	if err != nil {
		t.Fatalf("ListUnits: %v", err)
	}
	m := map[string]unitStatus{}
	for _, u := range units {
		m[u.Name] = u
	}
	return m
}

// TestSystemd boots systemd and checks over D-Bus, with godbus and EXTERNAL
// auth through /proc/<pid>/root, that the running unit is active, the
// failing one failed, and an extra unit was installed and started.
func TestSystemd(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := StartSystemd(t, Unit{Name: "barbossa-test-extra.service", Enable: true, Content: "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"})
	t.Logf("StartSystemd took %s (boot %s)", time.Since(start).Round(time.Millisecond), s.BootDuration().Round(time.Millisecond))

	conn := s.Connect(t)
	units := listUnits(t, conn)
	for name, want := range map[string][2]string{
		RunningUnit:                   {"active", "running"},
		FailingUnit:                   {"failed", "failed"},
		"barbossa-test-extra.service": {"active", "exited"},
		"dbus.service":                {"active", "running"},
	} {
		u, ok := units[name]
		if !ok {
			t.Errorf("%s not in ListUnits (%d units)", name, len(units))
			continue
		}
		if u.LoadState != "loaded" || u.ActiveState != want[0] || u.SubState != want[1] {
			t.Errorf("%s: %s/%s/%s, want loaded/%s/%s", name, u.LoadState, u.ActiveState, u.SubState, want[0], want[1])
		}
	}
	t.Logf("%d units loaded", len(units))

	v, err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		GetProperty("org.freedesktop.systemd1.Manager.SystemState")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Value(); got != "degraded" {
		t.Errorf("SystemState = %v, want degraded (a unit failed)", got)
	}

	// The bus the code under test will use is the one at BusAddress, and
	// the container's init is the pid it names.
	if _, err := os.Stat(filepath.Join("/proc", itoa(s.Pid()), "root", "run/dbus/system_bus_socket")); err != nil {
		t.Errorf("bus socket not under /proc/%d/root: %v", s.Pid(), err)
	}
	if p, err := readProc(s.Pid()); err != nil || p.Comm != "systemd" || p.PPID != s.NspawnPid() {
		t.Errorf("Pid() = %d: %+v, %v; want systemd, child of nspawn %d", s.Pid(), p, err, s.NspawnPid())
	}
}

// TestSystemdCleanup checks that after cleanup no process of the container
// or nspawn, no mount, cgroup or directory is left; once for an orderly
// halt and once for a container whose init was SIGKILLed.
func TestSystemdCleanup(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		name := "halt"
		if crash {
			name = "after-init-sigkill"
		}
		t.Run(name, func(t *testing.T) {
			var s *Systemd
			var pids []int
			t.Run("boot", func(t *testing.T) {
				s = StartSystemd(t)
				dirs, err := cgroupDirs(s.Cgroup())
				if err != nil {
					t.Fatal(err)
				}
				pids = cgroupPids(dirs)
				if len(pids) < 4 { // nspawn, systemd, journald, dbus, the units...
					t.Fatalf("only %d processes in the container's cgroup: %v", len(pids), pids)
				}
				if crash {
					if err := syscallKill(s.Pid()); err != nil {
						t.Fatal(err)
					}
				}
			})
			if s == nil {
				t.Fatal("systemd did not boot")
			}
			assertNothingLeft(t, s.in, pids)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
