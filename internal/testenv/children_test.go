package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestChildrenAndProcState(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st := ProcState(os.Getpid()); st != "R" && st != "S" {
		t.Errorf("this process is in state %q", st)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	want := strconv.Itoa(pid) + " (sleep) "
	found := false
	for _, c := range Children(t, os.Getpid()) {
		found = found || strings.HasPrefix(c, want)
	}
	if !found {
		t.Errorf("children %q lack %q", Children(t, os.Getpid()), want)
	}
	cmd.Process.Kill()
	for deadline := time.Now().Add(5 * time.Second); ProcState(pid) != "Z"; {
		if time.Now().After(deadline) {
			t.Fatalf("killed child in state %q, want Z until it is waited for", ProcState(pid))
		}
		time.Sleep(10 * time.Millisecond) // the kernel reaps a real process: polled on the real clock
	}
	cmd.Wait()
	if st := ProcState(pid); st != "" {
		t.Errorf("waited-for child in state %q", st)
	}
	for _, c := range Children(t, os.Getpid()) {
		if strings.HasPrefix(c, strconv.Itoa(pid)+" ") {
			t.Errorf("waited-for child still listed: %s", c)
		}
	}
}
