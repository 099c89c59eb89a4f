//go:build linux

package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// instanceFile, in each instance directory, records what the instance owns
// so that cleanup (and a later reaper, if the owner died) can undo it from
// disk state alone.
const instanceFile = "instance.json"

// instance is one started system: a directory under BaseDir, a cgroup named
// after it in every hierarchy, and for systemd a machine name.
type instance struct {
	Dir        string `json:"dir"`
	Kind       string `json:"kind"`
	OwnerPID   int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start"`
	Cgroup     string `json:"cgroup"`
	Machine    string `json:"machine,omitempty"`
}

// BaseDir is where instances live: $BARBOSSA_TESTENV_DIR or
// /tmp/barbossa-testenv. It is short on purpose: unix socket paths (dockerd's,
// containerd's) must fit in 108 bytes.
func BaseDir() string {
	if v := os.Getenv("BARBOSSA_TESTENV_DIR"); v != "" {
		return absPath(v)
	}
	return "/tmp/barbossa-testenv"
}

func newInstance(kind string) (*instance, error) {
	base := BaseDir()
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", base, err)
	}
	reapStale(base)
	dir, err := os.MkdirTemp(base, kind[:1]+"-")
	if err != nil {
		return nil, fmt.Errorf("create instance dir: %w", err)
	}
	id := filepath.Base(dir)
	in := &instance{
		Dir:        dir,
		Kind:       kind,
		OwnerPID:   os.Getpid(),
		OwnerStart: selfStart(),
		Cgroup:     "barbossa-testenv-" + id,
	}
	if kind == "systemd" {
		in.Machine = "bt-" + strings.TrimPrefix(id, "s-")
	}
	if err := in.save(); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *instance) save() error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return fmt.Errorf("encode instance: %w", err)
	}
	if err := os.WriteFile(filepath.Join(in.Dir, instanceFile), b, 0o600); err != nil {
		return fmt.Errorf("write instance file: %w", err)
	}
	return nil
}

func (in *instance) path(elem ...string) string {
	return filepath.Join(append([]string{in.Dir}, elem...)...)
}

// reap removes everything the instance may have left: processes in its
// cgroup or naming its directory, mounts below the directory, the cgroups,
// nspawn's propagation directory, and the directory. It is idempotent and the
// last step of every cleanup, orderly or not.
func (in *instance) reap() error {
	var errs []error
	// Read command lines before anything dies: a shim's names the socket
	// it leaves behind when killed.
	ps, err := processesMentioning(in.Dir)
	if err != nil {
		errs = append(errs, err)
	}
	if err := reapCgroup(in.Cgroup, 15*time.Second); err != nil {
		errs = append(errs, err)
	}
	// Whatever named our directory but was not in our cgroup (a host
	// without the tracking hierarchies).
	if err := killAndWait(ps, 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	for _, p := range ps {
		removeShimSocket(p.Cmdline)
	}
	if len(ps) > 0 {
		// Processes gone, cgroups that were busy can go now.
		if err := reapCgroup(in.Cgroup, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountUnder(in.Dir); err != nil {
		errs = append(errs, err)
	}
	if in.Machine != "" {
		// systemd-nspawn removes this itself only when /run is a tmpfs.
		_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", in.Machine))
	}
	if err := os.RemoveAll(in.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", in.Dir, err))
	}
	return errors.Join(errs...)
}

// reapStale reaps instances whose owning test binary is gone: it was killed
// (go test -timeout panics without running cleanups) or crashed. Instances
// of live test binaries, including other packages' running in parallel, are
// left alone.
func reapStale(base string) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		f, err := os.Open(filepath.Join(dir, instanceFile))
		if err != nil {
			// A directory without instance file is either being created
			// right now or was left half-made; only the old ones are reaped.
			if fi, serr := os.Stat(dir); serr == nil && time.Since(fi.ModTime()) > 10*time.Minute {
				_ = unmountUnder(dir)
				_ = os.RemoveAll(dir)
			}
			continue
		}
		// Two reapers must not tear down the same instance at once.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		var in instance
		err = json.NewDecoder(f).Decode(&in)
		if err == nil && processAlive(in.OwnerPID, in.OwnerStart) {
			f.Close()
			continue
		}
		if err != nil {
			in = instance{Dir: dir}
		}
		in.Dir = dir
		slog.Info("testenv: reaping instance of a dead test binary", "dir", dir, "owner_pid", in.OwnerPID)
		if err := in.reap(); err != nil {
			slog.Warn("testenv: reap stale instance", "dir", dir, "err", err)
		}
		f.Close()
	}
}
