package pluginhost

import (
	"os/exec"
	"syscall"
)

// prepare puts the plugin in its own process group, so killing the group
// also kills whatever it started, and asks Linux to SIGKILL it when the
// agent dies without stopping it. (Pdeathsig fires when the thread that
// started the process exits; the Go runtime only ends threads locked by a
// goroutine that exits, which the agent does not do. sdk.Serve also exits
// when its parent changes.)
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to the process group led by pid. Linux does not
// reuse a pid while it still names a process group, so this can only reach
// the plugin and what it started.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
