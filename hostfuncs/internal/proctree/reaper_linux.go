package proctree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The subreaper helper is this very binary started again with helperEnv
// set and helperArg0 as its argv[0]: both, so that neither an inherited
// variable nor a name alone turns an agent into a helper. Its arguments
// are the program's path and argv; with none it exits 0 (detect's test).
// It reports how the program ended on fd 3: the wait status in decimal,
// or "start: " and why the program could not start.
const (
	helperEnv  = "BARBOSSA_PROCTREE_HELPER"
	helperArg0 = "barbossa-proctree-helper"
)

func init() {
	if os.Getenv(helperEnv) != "1" || len(os.Args) == 0 || os.Args[0] != helperArg0 {
		return
	}
	os.Exit(helper(os.Args[1:]))
}

// NewSubreaper returns a runner in subreaper mode. Default picks it when
// cgroups cannot serve; tests use it to pick the mode.
func NewSubreaper() *Runner { return &Runner{mode: "subreaper", sys: &runnerSys{}} }

// stopGrace is how long the helper has to kill the tree and exit once told
// to stop, before it is killed with its process group.
const stopGrace = 2 * time.Second

// runSubreaper runs cmd under the helper.
func (r *Runner) runSubreaper(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return Result{}, err
	}
	defer statusR.Close()
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	h := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        append([]string{helperArg0, cmd.Path}, cmd.Args...),
		Env:         append(slices.Clone(env), helperEnv+"=1"),
		Dir:         cmd.Dir,
		Stdin:       cmd.Stdin,
		Stdout:      cmd.Stdout,
		Stderr:      cmd.Stderr,
		ExtraFiles:  []*os.File{statusW},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = h.Start()
	statusW.Close()
	if err != nil {
		return Result{}, fmt.Errorf("start the exec helper: %w", err)
	}
	exited := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		h.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			syscall.Kill(-h.Process.Pid, syscall.SIGKILL)
		}
	})
	waitErr := h.Wait()
	close(exited)
	stop()
	report, _ := io.ReadAll(io.LimitReader(statusR, 4<<10))
	if why, ok := strings.CutPrefix(string(report), "start: "); ok {
		return Result{}, errors.New(why)
	}
	if ws, err := strconv.Atoi(string(report)); err == nil {
		status := syscall.WaitStatus(ws)
		if status.Exited() {
			return Result{ExitCode: status.ExitStatus()}, nil
		}
		return Result{ExitCode: -1}, nil
	}
	// The helper died before it could say (killed after stopGrace).
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return Result{}, waitErr
	}
	return Result{ExitCode: -1}, nil
}

// Linux prctl options.
const (
	prSetPdeathsig      = 1
	prSetChildSubreaper = 36
)

// helper runs argv (args[1:]) from path args[0] as a subreaper and kills
// every process left of its tree when the program exits or SIGTERM comes;
// it returns once none is left.
func helper(args []string) int {
	if len(args) < 2 {
		return 0
	}
	status := os.NewFile(3, "status")
	syscall.CloseOnExec(3)
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		fmt.Fprintf(status, "start: become a subreaper: %v", e)
		return 1
	}
	// The agent gone, the tree goes too.
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGTERM), 0)
	if os.Getppid() == 1 {
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, helperEnv+"=") })
	proc, err := os.StartProcess(args[0], args[1:], &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		fmt.Fprintf(status, "start: %v", err)
		return 1
	}
	var (
		mu       sync.Mutex
		mainDone bool
		stopping bool
	)
	go func() {
		<-term
		mu.Lock()
		stopping = true
		if !mainDone {
			syscall.Kill(proc.Pid, syscall.SIGKILL)
		}
		mu.Unlock()
		killChildren()
	}()
	mainStatus := syscall.WaitStatus(0)
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil { // ECHILD: nothing left of the tree
			break
		}
		mu.Lock()
		if pid == proc.Pid {
			mainDone, mainStatus = true, ws
		}
		end := mainDone || stopping
		mu.Unlock()
		// A process's orphans are re-parented to us before it can be
		// waited for, so after each wait they are all to be found.
		if end {
			killChildren()
		}
	}
	fmt.Fprintf(status, "%d", int(mainStatus))
	return 0
}

// killChildren kills every child of this process.
func killChildren() {
	self := os.Getpid()
	for _, pid := range children(self) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// children lists the processes whose parent is pid, from /proc/*/stat.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(string(b)); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// parentOf reads the parent's PID from a /proc/PID/stat line:
// "PID (COMM) STATE PPID ...", where COMM may hold spaces and parentheses.
func parentOf(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
