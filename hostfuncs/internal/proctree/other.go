//go:build !linux

package proctree

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

type runnerSys struct{}

func detect() *Runner { return &Runner{mode: "group", sys: &runnerSys{}} }

// run kills the program's process group when it exits or ctx is done:
// without cgroups or a subreaper, what leaves the group survives.
func (r *Runner) run(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	pid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	waitErr := cmd.Wait()
	stop()
	syscall.Kill(-pid, syscall.SIGKILL)
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return Result{}, waitErr
	}
	return Result{ExitCode: cmd.ProcessState.ExitCode()}, nil
}
