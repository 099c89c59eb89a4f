package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// commandPaths lists every command a user can type, as argument lists.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if !sub.Hidden {
				walk(sub, append(path[:len(path):len(path)], sub.Name()))
			}
		}
	}
	walk(newRoot(nil, nil), nil)
	return out
}

// TestHelpOfEveryCommand: --help on every command exits 0 and says what
// the command does, its usage and its flags.
func TestHelpOfEveryCommand(t *testing.T) {
	paths := commandPaths(t)
	if len(paths) < 9 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	root := newRoot(nil, nil)
	for _, path := range paths {
		var out, errOut bytes.Buffer
		if code := run(append(path, "--help"), &out, &errOut); code != 0 {
			t.Errorf("%v --help: exit %d: %s", path, code, errOut.String())
			continue
		}
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Short == "" {
			t.Errorf("%v has no short description", path)
		}
		text := c.Long
		if text == "" {
			text = c.Short
		}
		first, _, _ := strings.Cut(text, "\n")
		if !strings.Contains(out.String(), first) || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v --help does not say what it does (%q) and how to use it:\n%s", path, first, out.String())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !strings.Contains(out.String(), "--"+f.Name) {
				t.Errorf("%v --help does not list --%s", path, f.Name)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"barbossa dev (WASM ABI 1)", "built unknown with go1.", "linux/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version says %q, want %q in it", out.String(), want)
		}
	}
}

func TestUsageMistakes(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"run", "--bogus"}, {"probe", "test"}, {"completion", "tcsh"}, {"check", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if errOut.Len() == 0 {
			t.Errorf("%v: nothing on stderr", args)
		}
	}
}

// TestManPage: the page is well-formed roff (groff warns of nothing) and
// documents every command and flag.
func TestManPage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"man"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatalf("groff (Debian: groff-base, which man-db needs) is not installed: %v", err)
	}
	cmd := exec.Command(groff, "-man", "-ww", "-z")
	cmd.Stdin = bytes.NewReader(out.Bytes())
	if b, err := cmd.CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("groff: %v\n%s", err, b)
	}
	page := out.String()
	for _, path := range commandPaths(t)[1:] {
		if (path[0] == "probe" || path[0] == "alert") && len(path) == 1 {
			continue // a group: its command is listed
		}
		if !strings.Contains(page, `.SS "barbossa `+strings.Join(path, " ")) {
			t.Errorf("no section for %v", path)
		}
	}
	for _, want := range []string{`\fB\-\-config\fR \fIFILE\fR`, `\fB\-\-pid\fR \fIPID\fR`, ".SH SIGNALS", "SIGHUP", "/etc/barbossa/barbossa.toml"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestCompletion runs each shell's completion for real, against the built
// binary (the scripts ask it for candidates): bash with bash-completion,
// fish's `complete -C`, and zsh loading its function.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH") // the scripts run "barbossa"
	shell := func(name string) string { return testenv.Program(t, name, name) }
	script := func(sh string) string {
		out, err := exec.Command(bin, "completion", sh).Output()
		if err != nil {
			t.Fatalf("completion %s: %v", sh, err)
		}
		f := filepath.Join(dir, "completion."+sh)
		os.WriteFile(f, out, 0o644)
		return f
	}
	cfg := filepath.Join(dir, "site.toml")
	os.WriteFile(cfg, nil, 0o644)

	t.Run("bash", func(t *testing.T) {
		bash := shell("bash")
		const lib = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(lib); err != nil {
			if testenv.InCI() {
				t.Fatalf("bash-completion is not installed: %v", err)
			}
			t.Skipf("bash-completion is not installed: %v", err)
		}
		complete := func(line string) string {
			words := strings.Fields(line)
			if strings.HasSuffix(line, " ") {
				words = append(words, "")
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			prog := `source ` + lib + `; source ` + script("bash") + `
COMP_WORDS=(` + strings.Join(quoted, " ") + `); COMP_CWORD=` + strconv.Itoa(len(words)-1) + `; COMP_LINE='` + line + `'; COMP_POINT=${#COMP_LINE}
__start_barbossa barbossa; printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command(bash, "--norc", "-c", prog)
			cmd.Dir, cmd.Env = dir, append(os.Environ(), "PATH="+path)
			var errOut bytes.Buffer
			cmd.Stderr = &errOut // compopt complains outside a real completion; harmless
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v\n%s%s", err, out, errOut.String())
			}
			return string(out)
		}
		if got := complete("barbossa ch"); strings.TrimSpace(got) != "check" {
			t.Errorf("barbossa ch<TAB> = %q, want check", got)
		}
		if got := complete("barbossa run --c"); !strings.Contains(got, "--config") {
			t.Errorf("barbossa run --c<TAB> = %q, want --config", got)
		}
		if got := complete("barbossa completion "); !strings.Contains(got, "zsh") || !strings.Contains(got, "fish") {
			t.Errorf("barbossa completion <TAB> = %q, want the shells", got)
		}
	})
	t.Run("fish", func(t *testing.T) {
		fish := shell("fish")
		cmd := exec.Command(fish, "--no-config", "-c", "source "+script("fish")+"; complete -C 'barbossa ch'; complete -C 'barbossa probe '")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "check\tvalidate a config") || !strings.Contains(string(out), "test\trun a WASM") {
			t.Errorf("fish completes:\n%s", out)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		zsh := shell("zsh")
		cmd := exec.Command(zsh, "-f", "-c", "autoload -U compinit && compinit -u -D && source "+script("zsh")+" && whence -w _barbossa")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "_barbossa: function") {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		// What the function asks the binary for: the candidates zsh shows.
		got, err := exec.Command(bin, "__complete", "ch").Output()
		if err != nil || !strings.HasPrefix(string(got), "check\tvalidate a config") {
			t.Errorf("__complete ch = %q, %v", got, err)
		}
	})
}

// freeLoopbackAddr is a loopback address no one listens on, for an agent
// started in another process to listen on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buildBinary returns the command built once for the whole test binary
// (a link takes seconds on a busy machine; five tests run it).
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "barbossa-cmd-test-")
		if err != nil {
			built.err = err
			return
		}
		built.dir, built.path = dir, filepath.Join(dir, "barbossa")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatalf("build: %v", built.err)
	}
	return built.path
}

var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
