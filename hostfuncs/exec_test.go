package hostfuncs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs/internal/proctree"
	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
	"github.com/barbossa-agent/barbossa/internal/testenv/proc"
	"github.com/barbossa-agent/barbossa/sdk"
)

func TestExecArgvGrants(t *testing.T) {
	p, err := compile(Grants{Exec: []string{
		"/bin/tmux list-sessions -F *",
		`/bin/tmux -S * list-panes -a -F '#{pane_id} #{pane_pid}'`,
		"/usr/bin/git status **",
		`/bin/echo '*' "**" '' it"'"s`,
		"/bin/uptime",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv []string
		want bool
	}{
		{[]string{"/bin/tmux", "list-sessions", "-F", "#{session_name}"}, true},
		{[]string{"/bin/tmux", "list-sessions", "-F"}, false},                           // * is one argument, not none
		{[]string{"/bin/tmux", "list-sessions", "-F", "x", ";", "new-session"}, false},  // nor more
		{[]string{"/bin/tmux", "new-session", "-d", "sh -c 'touch /tmp/pwned'"}, false}, // finding 2
		{[]string{"/bin/tmux", "-S", "/tmp/s", "list-panes", "-a", "-F", "#{pane_id} #{pane_pid}"}, true},
		{[]string{"/bin/tmux", "-S", "/tmp/s", "list-panes", "-a", "-F", "#(sh)"}, false}, // a format runs #(shell)
		{[]string{"/usr/bin/git", "status"}, true},
		{[]string{"/usr/bin/git", "status", "--short", "-b"}, true},
		{[]string{"/usr/bin/git", "-c", "alias.x=!touch /tmp/pwned", "x"}, false}, // finding 2
		{[]string{"/bin/echo", "*", "**", "", "it's"}, true},                      // quoted: literal
		{[]string{"/bin/echo", "a", "**", "", "it's"}, false},
		{[]string{"/bin/uptime", "-p", "anything"}, true}, // a bare program: any argv
	} {
		_, program, args := p.execPath(tc.argv)
		if got := program && args; got != tc.want {
			t.Errorf("execPath(%q) = %v, want %v", tc.argv, got, tc.want)
		}
	}
	for grant, want := range map[string]string{
		"":                    "empty program name",
		"* list":              "the program must be named",
		"tmux ** list":        "** (any further arguments) must be the last word",
		"tmux 'unclosed":      "unclosed ' quote",
		"tmux \x00":           "NUL",
		"bin/tmux ls":         "a path must be absolute",
		`"" list-sessions`:    "the program must be named",
		"tmux list-sessions ": "",
	} {
		_, err := parseExecGrant(grant)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("parseExecGrant(%q) = %v, want %q", grant, err, want)
		}
	}
}

// TestExecShellEscapesRefused is finding 2 of issue #8 with the real
// programs: under grants that pin the arguments, tmux's new-session and
// a #(...) format, and git's "!" aliases, are refused before anything
// runs; the pinned commands run.
func TestExecShellEscapesRefused(t *testing.T) {
	mustLookPath(t, "tmux")
	mustLookPath(t, "git")
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	sock := filepath.Join(dir, "tmux.sock")
	c, _ := newCaller(t, Grants{Exec: []string{
		"tmux -S * list-sessions -F #{session_name}",
		"git -C * status --short",
	}})
	ctx := ctxTimeout(t, 20*time.Second)
	for _, argv := range [][]string{
		{"tmux", "-S", sock, "new-session", "-d", "touch " + pwned},
		{"tmux", "-S", sock, "list-sessions", "-F", "#(touch " + pwned + ")"},
		{"tmux", "-S", sock, "list-sessions", "-F", "#{session_name}", ";", "run-shell", "touch " + pwned},
		{"git", "-c", "alias.x=!touch " + pwned, "x"},
		{"git", "-C", dir, "status", "--short", "--output=" + pwned},
	} {
		e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: argv}, nil)
		if want := `denied: exec of "` + argv[0] + `" with arguments [`; !strings.HasPrefix(e, want) {
			t.Errorf("%q: %q, want %q...", argv, e, want)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a refused command ran")
	}
	var r sdk.ExecResponse
	if e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"tmux", "-S", sock, "list-sessions", "-F", "#{session_name}"}}, &r); e != "" || !strings.Contains(r.Stderr, sock) { // it ran, and found no server
		t.Errorf("the granted command: %+v %q", r, e)
	}
	if c.Denied() != 5 {
		t.Errorf("Denied() = %d, want 5", c.Denied())
	}
}

// TestExecKillsWhatEscapes is the rest of finding 2: a daemon a granted
// command starts (setsid, a double fork: what a tmux server does) is
// killed when the command exits and at the deadline, with a cgroup per
// run and with a subreaper.
func TestExecKillsWhatEscapes(t *testing.T) {
	modes := map[string]*proctree.Runner{"subreaper": proctree.NewSubreaper()}
	if r, err := proctree.NewCgroup(); err == nil {
		modes["cgroup"] = r
	} else if ci.On() {
		t.Fatalf("no cgroup v2 to run in: %v; CI requires it", err)
	} else {
		t.Logf("cgroup mode not tested: %v", err)
	}
	for mode, r := range modes {
		t.Run(mode, func(t *testing.T) {
			c, logs := newCaller(t, Grants{Exec: []string{"sh -c * sh *"}})
			c.host.procs = r
			for _, tc := range []struct {
				name, script string
				deadline     time.Duration
				want         string
			}{
				{"exit", proc.Escape + "\nexit 0", 20 * time.Second, ""},
				{"deadline", proc.Escape + "\nsleep 300", time.Second, "timeout: exec of \"sh\""},
			} {
				pidFile := filepath.Join(t.TempDir(), "pid")
				var resp sdk.ExecResponse
				e := call(t, c, ctxTimeout(t, tc.deadline), "exec", sdk.ExecRequest{Argv: []string{"sh", "-c", tc.script, "sh", pidFile}}, &resp)
				if !strings.HasPrefix(e, tc.want) || (tc.want == "") != (e == "") {
					t.Errorf("%s: %q, want %q", tc.name, e, tc.want)
				}
				if pid := proc.EscapedPID(t, pidFile); proc.StillRunning(pid, 2*time.Second) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("%s: the process that left its session (%d) outlived the exec", tc.name, pid)
				}
			}
			// The mode is said once, at the first exec: an operator can tell
			// which containment runs (and what a subreaper costs).
			if n := strings.Count(logs.String(), "mode="+mode); n != 1 {
				t.Errorf("the log names mode=%s %d times, want once:\n%s", mode, n, logs)
			}
		})
	}
}

// TestExecSkipsRelativePathElements is finding 12 of issue #8: with an
// empty or "." element in PATH, a program of a granted name planted in the
// agent's working folder ran. Relative elements are skipped.
func TestExecSkipsRelativePathElements(t *testing.T) {
	echo := mustLookPath(t, "echo")
	dir := t.TempDir()
	marker := filepath.Join(dir, "planted-ran")
	for _, name := range []string{"echo", "only-here"} {
		script := fmt.Sprintf("#!/bin/sh\ntouch %s\n", marker)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, path := range []string{":" + filepath.Dir(echo), ".:" + filepath.Dir(echo), filepath.Dir(echo) + "::."} {
		t.Setenv("PATH", path)
		c, _ := newCaller(t, Grants{Exec: []string{"echo", "only-here"}})
		ctx := ctxTimeout(t, 10*time.Second)
		var r sdk.ExecResponse
		if e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"echo", "real"}}, &r); e != "" || r.Stdout != "real\n" {
			t.Errorf("PATH=%s: echo: %+v %q", path, r, e)
		}
		if e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"only-here"}}, nil); e != `exec: "only-here" is granted but not found in PATH` {
			t.Errorf("PATH=%s: a program only in the working folder: %q", path, e)
		}
		call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $PATH"}}, nil)
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("PATH=%s: the planted program ran", path)
		}
	}
	if got := absolutePath("::/usr/bin:.:bin:/bin:"); got != "/usr/bin:/bin" {
		t.Errorf("absolutePath = %q", got)
	}
}
