package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/builtinwasm"
)

// TestMain lets this test binary serve as the agent's compile child
// (TestCompileInChild), as cmd/barbossa's main does.
func TestMain(m *testing.M) {
	if dir := os.Getenv(compileChildEnv); dir != "" {
		if err := compileChild(dir, os.Stdin); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCompileInChild: an agent whose binary allows it compiles the built-in
// bundle in a child process into its cache (the mark is there, the log
// names the child's peak), loads it from there, and its probes run; a
// second start finds the mark and runs no child.
func TestCompileInChild(t *testing.T) {
	if _, err := builtinwasm.Bundle(); err != nil {
		t.Skipf("no bundle (make wasm): %v", err)
	}
	reexec.Store(true)
	defer reexec.Store(false)
	dir := t.TempDir()
	cfg := testConfig + `
[[probe]]
name = "tmux"
runtime = "wasm"
source = "builtin:tmux"
interval = "1s"
max_memory = "32MiB"
[probe.allow]
exec = ["tmux"]
[probe.config]
socket = "` + filepath.Join(dir, "no-tmux") + `"
`
	base, logs, _, stop := startAgentWith(t, dir, cfg)
	marks, _ := filepath.Glob(filepath.Join(dir, "data", "wasm-cache", "compiled-*"))
	if len(marks) != 1 {
		t.Fatalf("marks in the cache: %v", marks)
	}
	if !strings.Contains(logs.String(), "compiled in a child process") {
		t.Errorf("no child compiled the bundle:\n%s", logs.String())
	}
	waitFor(t, 20*time.Second, "the tmux probe's report", func() bool {
		p, _ := getProbe(t, base, "tmux")
		return p.Report != nil
	})
	stop()

	_, logs, _, stop = startAgentWith(t, dir, cfg)
	defer stop()
	if strings.Contains(logs.String(), "child process") {
		t.Errorf("a child ran again with the mark in place:\n%s", logs.String())
	}
}
