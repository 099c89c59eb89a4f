//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	Mount string
	V2    bool
	Opts  string // superblock options of a v1 hierarchy: its controllers or name=
}

// tracking reports whether processes are moved into this hierarchy when the
// harness places dockerd or systemd-nspawn in its own cgroup. Only the
// hierarchies without resource controllers are used (the v2 tree and v1
// name=systemd): moving a process in the v1 memory or cpu trees would take it
// out of the limits the sandbox put on us.
func (h hierarchy) tracking() bool {
	return h.V2 || strings.Contains(","+h.Opts+",", ",name=systemd,")
}

// cgroupHierarchies picks the cgroup mounts out of mountinfo, one per
// hierarchy (a hierarchy mounted twice is listed once).
func cgroupHierarchies(ms []mountEntry) []hierarchy {
	var out []hierarchy
	seen := map[string]bool{}
	for _, m := range ms {
		var h hierarchy
		switch m.FSType {
		case "cgroup2":
			h = hierarchy{Mount: m.MountPoint, V2: true}
		case "cgroup":
			var keep []string
			for _, o := range strings.Split(m.SuperOpts, ",") {
				if o != "rw" && o != "ro" {
					keep = append(keep, o)
				}
			}
			h = hierarchy{Mount: m.MountPoint, Opts: strings.Join(keep, ",")}
		default:
			continue
		}
		key := fmt.Sprintf("%v/%s", h.V2, h.Opts)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, h)
	}
	return out
}

func currentHierarchies() ([]hierarchy, error) {
	ms, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	return cgroupHierarchies(ms), nil
}

// createTrackingCgroups makes <hierarchy>/<name>/<sub> in every tracking
// hierarchy and returns the directories (for cgroupWrapper).
func createTrackingCgroups(name, sub string) ([]string, error) {
	hs, err := currentHierarchies()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, h := range hs {
		if !h.tracking() {
			continue
		}
		d := filepath.Join(h.Mount, name, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", d, err)
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup v2 or name=systemd hierarchy mounted")
	}
	return dirs, nil
}

// cgroupWrapper is a /bin/sh script that moves itself into the cgroups listed
// in $BARBOSSA_TESTENV_CGROUPS (colon separated) and then execs its
// arguments. Go cannot start a child inside a v1 cgroup (SysProcAttr.CgroupFD
// is v2 only), and the child must be there from its first instruction:
// systemd-nspawn creates its payload/supervisor cgroups below its own, and
// two nspawns sharing the root cgroup would share those.
const cgroupWrapper = `IFS=:
for d in $BARBOSSA_TESTENV_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 97; done
unset BARBOSSA_TESTENV_CGROUPS IFS
exec "$@"`

// cgroupDirs returns the existing directories of cgroup name in every mounted
// hierarchy, each followed by its descendants, deepest last.
func cgroupDirs(name string) ([]string, error) {
	hs, err := currentHierarchies()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, h := range hs {
		top := filepath.Join(h.Mount, name)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk cgroup %s: %w", top, err)
		}
	}
	return dirs, nil
}

// cgroupPids lists the processes in the cgroup dirs (not descendants).
func cgroupPids(dirs []string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// reapCgroup kills every process in cgroup name (in all hierarchies, with
// descendants) and removes the cgroups. Frozen cgroups (a paused container)
// are thawed first: a v1-frozen task does not die of SIGKILL until thawed.
func reapCgroup(name string, timeout time.Duration) error {
	if name == "" {
		return nil
	}
	dirs, err := cgroupDirs(name)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		for _, d := range dirs {
			_ = os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
			_ = os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)
		}
		pids := cgroupPids(dirs)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v survive SIGKILL", name, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Children before parents.
	sort.SliceStable(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if errors.Is(err, syscall.EBUSY) && time.Now().Before(deadline) {
				// A task that just died may still be leaving the cgroup.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			break
		}
	}
	return errors.Join(errs...)
}
