package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestStillRunningAndEscape(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The escaped process is the test's to kill: its parent exited.
	if err := exec.Command("/bin/sh", "-c", Escape, "sh", pidFile).Run(); err != nil {
		t.Fatal(err)
	}
	pid := EscapedPID(t, pidFile)
	if State(pid) != "S" || !StillRunning(pid, 50*time.Millisecond) {
		t.Fatalf("the escaped process %d: state %q, want S and running", pid, State(pid))
	}
	p, _ := os.FindProcess(pid)
	p.Kill()
	if StillRunning(pid, 5*time.Second) {
		t.Errorf("killed %d still runs (state %q)", pid, State(pid))
	}
	if State(os.Getpid()) == "" || State(-1) != "" {
		t.Errorf("State(self) = %q, State(-1) = %q", State(os.Getpid()), State(-1))
	}
}
