package agent

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/builtinwasm"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// watProbe returns a tiny WAT module whose probe (named kind) reports
// status ok, the given message and the metric KIND.answer = 42.
func watProbe(t *testing.T, kind, message string) []byte {
	t.Helper()
	return staticModule(t, kind, fmt.Sprintf(`{"status":"ok","message":%q,"metrics":[{"name":"%s.answer","value":42}],"entities":[]}`, message, kind))
}

// logBuffer collects the agent's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// runAgent starts an agent on the config text in dir and returns its
// base URL and log; the agent stops at the end of the test.
func runAgent(t *testing.T, dir, cfgText string) (string, *logBuffer, *Agent) {
	t.Helper()
	base, logs, a, _ := startAgentWith(t, dir, cfgText)
	return base, logs, a
}

// wasmProbeJSON is what /api/v1/probes/NAME says about a probe.
type wasmProbeJSON struct {
	Name       string `json:"name"`
	Runtime    string `json:"runtime"`
	Source     string `json:"source"`
	State      string `json:"state"`
	LastError  string `json:"last_error"`
	Runs       int    `json:"runs"`
	Denied     int    `json:"denied"`
	IntervalMS int64  `json:"interval_ms"`
	// DropInError is the refused new version of this drop-in, if any.
	DropInError *struct {
		File, Error string
		Line        int
	} `json:"dropin_error"`
	Report *struct {
		Status   string                  `json:"status"`
		Message  string                  `json:"message"`
		Metrics  []struct{ Name string } `json:"metrics"`
		Entities []struct {
			Kind, ID, State string
			Attrs           map[string]any
		} `json:"entities"`
	} `json:"report"`
}

func getProbe(t *testing.T, base, name string) (wasmProbeJSON, int) {
	var p wasmProbeJSON
	code := getJSON(t, base+"/api/v1/probes/"+name, &p)
	return p, code
}

// TestAgentRunsWASMProbes runs the agent with WASM probes from the main
// config: a module file given by a path relative to the config, the same
// module in a second probe, the built-in tmux probe from the embedded
// bundle against a real tmux server, and the tmux module alone without its
// grant (denied and counted).
func TestAgentRunsWASMProbes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "modules"), 0o755)
	os.WriteFile(filepath.Join(dir, "modules", "answer.wasm"), watProbe(t, "answer", "hello from WAT"), 0o644)
	// The tmux probe's module alone, as `make wasm` builds it.
	tmuxWASM := filepath.Join(dir, "modules", "tmux.wasm")
	if err := os.WriteFile(tmuxWASM, testenv.BuildWASM(t, "../../plugins/tmux/cmd"), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := `
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
[store]
flush_interval = "100ms"
[[probe]]
name = "answer"
runtime = "wasm"
source = "modules/answer.wasm"
interval = "300ms"
timeout = "200ms"
[[probe]]
name = "answer-again"
runtime = "wasm"
source = "modules/answer.wasm"
interval = "10s"
[[probe]]
name = "tmux-nogrant"
runtime = "wasm"
source = "` + tmuxWASM + `"
interval = "10s"
timeout = "9s"     # instantiating a Go guest under -race on a busy machine took over the default 5s
`
	_, bundleErr := builtinwasm.Bundle()
	var socket string
	if bundleErr == nil {
		if _, err := exec.LookPath("tmux"); err != nil {
			if testenv.InCI() {
				t.Fatalf("tmux is not installed; CI requires it: %v", err)
			}
		} else {
			sockDir, _ := os.MkdirTemp("", "agent-tmux-")
			t.Cleanup(func() { os.RemoveAll(sockDir) })
			socket = filepath.Join(sockDir, "s")
			if b, err := exec.Command("tmux", "-S", socket, "new-session", "-d", "-s", "agent-test", "sleep 600").CombinedOutput(); err != nil {
				t.Fatalf("tmux: %v\n%s", err, b)
			}
			t.Cleanup(func() { exec.Command("tmux", "-S", socket, "kill-server").Run() })
			cfg += `
[[probe]]
name = "tmux"
runtime = "wasm"
source = "builtin:tmux"
interval = "10s"
max_memory = "16MiB"
[probe.allow]
exec = ["tmux"]
[probe.config]
socket = "` + socket + `"
`
		}
	} else if testenv.InCI() {
		t.Fatalf("%v: CI runs make test, which builds it", bundleErr)
	} else {
		t.Logf("skipping builtin:tmux: %v", bundleErr)
	}
	base, logs, a := runAgent(t, dir, cfg)

	var p wasmProbeJSON
	waitFor(t, 20*time.Second, "reports of the WASM probes", func() bool {
		p, _ = getProbe(t, base, "answer")
		q, _ := getProbe(t, base, "answer-again")
		return p.Runs >= 3 && q.Report != nil
	})
	if p.State != "ok" || p.Runtime != "wasm" || p.Report.Message != "hello from WAT" || p.Report.Metrics[0].Name != "answer.answer" {
		t.Errorf("answer = %+v", p)
	}
	a.wasm.mu.Lock()
	modules := len(a.wasm.modules)
	a.wasm.mu.Unlock()
	if want := map[bool]int{true: 3, false: 2}[socket != ""]; modules != want {
		t.Errorf("%d modules loaded, want %d (one per distinct module)", modules, want)
	}
	// The bare tmux grant is wide: the agent says so, naming where it is.
	if warn := `msg="a grant wider than it reads" probe=tmux warning="` + filepath.Join(dir, "barbossa.toml"); socket != "" && !strings.Contains(logs.String(), warn) {
		t.Errorf("the agent did not warn of the bare tmux grant (%s...)", warn)
	}

	waitFor(t, 20*time.Second, "the denied tmux run", func() bool {
		p, _ = getProbe(t, base, "tmux-nogrant")
		return p.Runs >= 1
	})
	if p.State != "failing" || p.Denied != 1 || !strings.Contains(p.LastError, `denied: exec of "tmux" is not granted to probe "tmux-nogrant"`) {
		t.Errorf("tmux-nogrant = %+v", p)
	}
	if !strings.Contains(logs.String(), `msg="host call denied" component=wasm probe=tmux-nogrant func=exec`) {
		t.Errorf("the denial is not in the log:\n%s", logs)
	}

	if socket != "" {
		waitFor(t, 20*time.Second, "a tmux report", func() bool {
			p, _ = getProbe(t, base, "tmux")
			return p.Report != nil || p.LastError != ""
		})
		if p.State != "ok" || p.Source != "builtin:tmux" || len(p.Report.Entities) != 1 ||
			p.Report.Entities[0].ID != "agent-test" || p.Report.Entities[0].State != "detached" {
			t.Errorf("tmux = %+v", p)
		}
	}
}

// TestBuiltinWASMNotCompiledIn acts out a binary built without make: the
// agent runs, and a built-in WASM probe fails every run saying how to fix it.
func TestBuiltinWASMNotCompiledIn(t *testing.T) {
	defer func(b func() ([]byte, error)) { bundle = b }(bundle)
	bundle = func() ([]byte, error) { return nil, builtinwasm.ErrNotCompiled }
	base, logs, _ := runAgent(t, t.TempDir(), `
[portal]
listen = "127.0.0.1:0"
[[probe]]
name = "tmux"
runtime = "wasm"
source = "builtin:tmux"
interval = "10s"
`)
	var p wasmProbeJSON
	waitFor(t, 10*time.Second, "the first run", func() bool {
		p, _ = getProbe(t, base, "tmux")
		return p.Runs >= 1
	})
	const want = "built-in WASM probes were not compiled in; build with make"
	if p.State != "failing" || !strings.Contains(p.LastError, want) {
		t.Errorf("tmux = %+v", p)
	}
	if !strings.Contains(logs.String(), want) {
		t.Errorf("not in the log:\n%s", logs)
	}
}
