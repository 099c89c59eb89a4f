package proctree

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
	"github.com/barbossa-agent/barbossa/internal/testenv/proc"
)

// runners returns a runner of each mode. Without a usable cgroup v2 the
// cgroup mode is skipped, or fails under CI, where a skip would hide it.
func runners(t *testing.T) map[string]*Runner {
	t.Helper()
	rs := map[string]*Runner{"subreaper": NewSubreaper()}
	cg, err := NewCgroup()
	if err == nil {
		rs["cgroup"] = cg
	} else if ci.On() {
		t.Fatalf("cgroup mode: %v; CI requires it", err)
	} else {
		t.Logf("cgroup mode not tested: %v", err)
	}
	return rs
}

// TestSetsidEscapeKilled: what a program starts and leaves its session
// (setsid after a fork, as a daemon does) is killed when the program exits
// and when its deadline comes, in each mode.
func TestSetsidEscapeKilled(t *testing.T) {
	for mode, r := range runners(t) {
		for _, tc := range []struct {
			name, then string
			deadline   time.Duration
			wantExit   int
		}{
			{"exit", "exit 3", time.Minute, 3},
			{"deadline", "sleep 300", 500 * time.Millisecond, -1},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				pidFile := filepath.Join(t.TempDir(), "pid")
				ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
				defer cancel()
				start := time.Now()
				res, err := r.Run(ctx, exec.Command("/bin/sh", "-c", proc.Escape+"\n"+tc.then, "sh", pidFile))
				if err != nil || res.ExitCode != tc.wantExit {
					t.Fatalf("Run = %+v, %v (ctx %v); want exit code %d", res, err, ctx.Err(), tc.wantExit)
				}
				if took := time.Since(start); took > tc.deadline+4*time.Second {
					t.Errorf("Run returned %s after its start, %s deadline", took, tc.deadline)
				}
				if pid := proc.EscapedPID(t, pidFile); proc.StillRunning(pid, 2*time.Second) {
					killLeftover(pid)
					t.Errorf("the escaped process %d outlived its program", pid)
				}
			})
		}
	}
}

func TestRunPassesStdioAndStatus(t *testing.T) {
	for mode, r := range runners(t) {
		t.Run(mode, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			cmd := exec.Command("/bin/sh", "-c", `echo "out $0 $FOO"; pwd; kill -9 $$`, "zero")
			cmd.Env, cmd.Dir, cmd.Stdout = []string{"FOO=bar"}, "/", pw
			res, err := r.Run(context.Background(), cmd)
			pw.Close()
			out, _ := io.ReadAll(pr)
			if err != nil || res.ExitCode != -1 {
				t.Errorf("Run = %+v, %v; want -1 (killed by a signal)", res, err)
			}
			if string(out) != "out zero bar\n/\n" {
				t.Errorf("stdout %q", out)
			}
			if env := os.Getenv(helperEnv); env != "" {
				t.Errorf("%s leaked into the agent: %q", helperEnv, env)
			}
			if _, err := r.Run(context.Background(), exec.Command("/nonexistent/program")); err == nil {
				t.Error("a program that cannot start is not an error")
			}
		})
	}
}

func TestHelperMarkerNotPassedOn(t *testing.T) {
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	cmd := exec.Command("/usr/bin/env")
	cmd.Env, cmd.Stdout = []string{"A=1"}, pw
	if _, err := NewSubreaper().Run(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	out, _ := io.ReadAll(pr)
	if string(out) != "A=1\n" {
		t.Errorf("the program's environment is %q, want only A=1", out)
	}
}

func TestParentOf(t *testing.T) {
	for stat, want := range map[string]int{
		"12 (sh) S 7 12 12 0":             7,
		"13 (a) b) (c) R 1 13 13":         1,
		"14 (name with spaces) S 99 1 1 ": 99,
	} {
		if got, ok := parentOf(stat); !ok || got != want {
			t.Errorf("parentOf(%q) = %d %v, want %d", stat, got, ok, want)
		}
	}
	if _, ok := parentOf("garbage"); ok {
		t.Error("garbage parsed")
	}
}

func TestDefaultPicksCgroupWhenUsable(t *testing.T) {
	_, err := NewCgroup()
	if got := Default().Mode(); (err == nil) != (got == "cgroup") {
		t.Errorf("Default().Mode() = %s; NewCgroup: %v", got, err)
	}
}

// killLeftover kills a process a failed test left behind.
func killLeftover(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
