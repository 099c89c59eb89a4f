package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv/proc"
)

// ProcState returns process pid's state letter from /proc (R, S, Z, ...),
// or "" when there is no such process. Tests of code that starts processes
// use it to check that one is gone: a zombie ("Z") is gone for a process
// whose parent is not the test.
func ProcState(pid int) string { return proc.State(pid) }

// Children lists the processes whose parent is ppid, as "pid (comm) state";
// with os.Getpid() they are what a test left behind.
func Children(t testing.TB, ppid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	parent := strconv.Itoa(ppid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// comm may hold spaces and parentheses: the fields start after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:]) // state ppid ...
		if len(f) > 1 && f[1] == parent {
			out = append(out, s[:i+1]+" "+f[0]) // stat starts with "pid (comm)"
		}
	}
	return out
}
