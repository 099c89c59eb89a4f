//go:build unix && !linux

package pluginhost

import (
	"os/exec"
	"syscall"
)

// prepare puts the plugin in its own process group, so killing the group
// also kills whatever it started. Without Pdeathsig, sdk.Serve's watch of
// its parent is what ends a plugin whose agent died.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
