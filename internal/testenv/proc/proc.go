// Package proc tells the tests of code that starts processes whether one is
// still running, and gives them a process that escapes the way a daemon
// does. Like heap and testbus it is a leaf of the test rig, apart from
// internal/testenv, so the tests of the packages testenv imports (hostfuncs,
// core/wasmhost) can use it.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// State returns process pid's state letter from /proc (R, S, Z, ...), or ""
// when there is no such process.
func State(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// Running reports whether pid runs. A zombie does not: killed, it waits
// for a reaper that may not be the test.
func Running(pid int) bool {
	st := State(pid)
	return st != "" && st != "Z"
}

// StillRunning reports whether pid still runs after grace, returning false
// as soon as it is gone: a kill takes a moment to land.
func StillRunning(pid int, grace time.Duration) bool {
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); {
		if !Running(pid) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // another process: polled on the real clock
	}
	return Running(pid)
}

// Escape is a shell script that leaves its process group and session the
// way a daemon does (a fork whose parent exits, then setsid: what a tmux
// server does), writes the escaped process's PID to the file named by its
// first argument, and waits until it has. Run it with sh -c Escape sh FILE,
// appending what the script does next.
const Escape = `(setsid sh -c 'echo $$ > "$1"; exec sleep 300' sh "$1" &)
while [ ! -s "$1" ]; do sleep 0.01; done`

// EscapedPID reads the PID Escape wrote to file.
func EscapedPID(t testing.TB, file string) int {
	t.Helper()
	b, _ := os.ReadFile(file)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", file, b)
	}
	return pid
}
