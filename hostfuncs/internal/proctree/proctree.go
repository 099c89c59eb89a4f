// Package proctree runs a program so that nothing it starts outlives it:
// when the program exits, or its context is done, its whole process tree
// is killed, including what called setsid or forked twice to leave its
// process group (a daemon such as a tmux server started by a granted
// command).
//
// On Linux it does so one of two ways, chosen once per agent process:
//
//   - a cgroup v2 per run, where the agent may make cgroups below its own
//     (as root, or in a systemd unit with Delegate=yes): the program is
//     started inside it (clone3 with CLONE_INTO_CGROUP), so no descendant
//     can leave it, and the run ends with cgroup.kill;
//   - otherwise a subreaper: the agent's own binary, started again as a
//     helper (see reaper_linux.go), sets PR_SET_CHILD_SUBREAPER and runs the
//     program, so every orphan of the tree is re-parented to the helper
//     rather than to init, and the helper kills them all when the program
//     exits or the agent tells it to stop.
//
// Elsewhere only the program's process group is killed.
//
//	r := proctree.Default()
//	res, err := r.Run(ctx, cmd) // cmd's stdio must be nil or *os.File
package proctree

import (
	"context"
	"os/exec"
	"sync"
)

// Result is how a program ended.
type Result struct {
	// ExitCode is the program's exit status, or -1 when a signal ended it.
	ExitCode int
}

// Runner runs programs in one of the modes of the package doc.
type Runner struct {
	mode string // "cgroup", "subreaper" or "group"
	sys  *runnerSys
}

// Mode names how the runner contains a run: "cgroup", "subreaper", or
// "group" (process group only, outside Linux).
func (r *Runner) Mode() string { return r.mode }

var (
	defaultOnce   sync.Once
	defaultRunner *Runner
)

// Default returns the runner of this process: a cgroup per run when this
// process can make and use one, a subreaper otherwise. It is found out
// once, at the first call.
func Default() *Runner {
	defaultOnce.Do(func() { defaultRunner = detect() })
	return defaultRunner
}

// Run runs cmd to its end and kills whatever it started, or kills it all
// as soon as ctx is done. cmd.Stdin, Stdout and Stderr must be nil or
// *os.File (a pipe's write end, say): os/exec's copying goroutines would
// otherwise wait for descendants holding the pipes. cmd must not have been
// started; Run sets its SysProcAttr. The error is for a program that could
// not be started or waited for; an exit status, a signal and ctx being done
// are Results (check ctx.Err to tell a deadline).
func (r *Runner) Run(ctx context.Context, cmd *exec.Cmd) (Result, error) {
	return r.run(ctx, cmd)
}
