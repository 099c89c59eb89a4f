package proctree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type runnerSys struct {
	cgroupDir string // the agent's own cgroup v2 folder; "" in subreaper mode
	seq       atomic.Uint64
}

// cgroup2Magic is statfs's f_type of a cgroup v2 filesystem.
const cgroup2Magic = 0x63677270

// detect picks the cgroup mode when a run in it works end to end here,
// and the subreaper mode otherwise.
func detect() *Runner {
	if dir, err := ownCgroup(); err == nil {
		r := &Runner{mode: "cgroup", sys: &runnerSys{cgroupDir: dir}}
		// The helper with no arguments exits 0 at once: a run of it proves
		// the cgroup can be made, entered at clone and removed.
		cmd := exec.Command("/proc/self/exe")
		cmd.Args = []string{helperArg0}
		cmd.Env = []string{helperEnv + "=1"}
		if res, err := r.runCgroup(context.Background(), cmd); err == nil && res.ExitCode == 0 {
			return r
		}
	}
	return NewSubreaper()
}

// NewCgroup returns a runner in cgroup mode, or an error saying why this
// process cannot use one. Default picks it when it can; tests use it to
// pick the mode.
func NewCgroup() (*Runner, error) {
	dir, err := ownCgroup()
	if err != nil {
		return nil, err
	}
	return &Runner{mode: "cgroup", sys: &runnerSys{cgroupDir: dir}}, nil
}

// ownCgroup returns the folder of this process's cgroup in the cgroup v2
// hierarchy, mounted at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified
// (hybrid).
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	rel, found := "", false
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = p, true
		}
	}
	if !found {
		return "", errors.New("this process is in no cgroup v2")
	}
	for _, mnt := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(mnt, &st) != nil || st.Type != cgroup2Magic {
			continue
		}
		dir := filepath.Join(mnt, rel)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted where this process's cgroup is")
}

func (r *Runner) run(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	if r.mode == "cgroup" {
		return r.runCgroup(ctx, cmd)
	}
	return r.runSubreaper(ctx, cmd)
}

// runCgroup runs cmd in a cgroup of its own below the agent's, and kills
// and removes the cgroup when cmd has exited or ctx is done.
func (r *Runner) runCgroup(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	cg := filepath.Join(r.sys.cgroupDir, fmt.Sprintf("barbossa-exec-%d-%d", os.Getpid(), r.sys.seq.Add(1)))
	if err := os.Mkdir(cg, 0o755); err != nil {
		return Result{}, fmt.Errorf("make a cgroup for the run: %w", err)
	}
	defer removeCgroup(cg)
	fd, err := syscall.Open(cg, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("open the run's cgroup: %w", err)
	}
	attr := sysProcAttr(cmd)
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	attr.Setpgid = true
	err = cmd.Start()
	syscall.Close(fd)
	if err != nil {
		return Result{}, err
	}
	stop := context.AfterFunc(ctx, func() { killCgroup(cg) })
	waitErr := cmd.Wait()
	stop()
	killCgroup(cg)
	return result(cmd.ProcessState, waitErr)
}

// killCgroup kills every process in cg and returns once none is left (or
// after emptyTimeout: a process stuck in the kernel).
func killCgroup(cg string) {
	// cgroup.kill (Linux 5.14) kills every process at once, even one
	// forking as it goes. Before it: freeze, kill, thaw, until empty.
	viaKill := os.WriteFile(filepath.Join(cg, "cgroup.kill"), []byte("1"), 0) == nil
	deadline := time.Now().Add(emptyTimeout)
	for populated(cg) && time.Now().Before(deadline) {
		if !viaKill {
			os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte("1"), 0)
			for _, pid := range cgroupPids(cg) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte("0"), 0)
		}
		// The kernel takes the killed processes out as they exit; there is
		// nothing to wait on but the file.
		time.Sleep(2 * time.Millisecond)
	}
}

// emptyTimeout bounds the wait for a killed cgroup to empty.
const emptyTimeout = 5 * time.Second

// populated reads cgroup.events: "populated 1" while any process is in cg
// or below it.
func populated(cg string) bool {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("populated 1"))
}

func cgroupPids(cg string) []int {
	b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroup removes cg once it is empty.
func removeCgroup(cg string) {
	deadline := time.Now().Add(emptyTimeout)
	for {
		err := syscall.Rmdir(cg)
		if err == nil || errors.Is(err, syscall.ENOENT) || !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return
		}
		killCgroup(cg)                   // still busy: something is left,
		time.Sleep(2 * time.Millisecond) // or only just gone
	}
}

func sysProcAttr(cmd *exec.Cmd) *syscall.SysProcAttr {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	return cmd.SysProcAttr
}

// result is the Result of a waited-for command.
func result(ps *os.ProcessState, waitErr error) (Result, error) {
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return Result{}, waitErr
	}
	return Result{ExitCode: ps.ExitCode()}, nil
}
