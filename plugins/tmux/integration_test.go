//go:build linux

package tmux

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa"
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
)

// tmuxServer is a real tmux server on a private socket.
type tmuxServer struct {
	t      testing.TB
	socket string
}

func (s *tmuxServer) run(args ...string) {
	s.t.Helper()
	cmd := exec.Command("tmux", append([]string{"-S", s.socket}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	if b, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// TestRealTmuxThroughWASM runs the built module in the real WASM host
// against a real tmux server: no server, sessions with windows, panes, a
// client and a dead pane, and no server again.
func TestRealTmuxThroughWASM(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if testenv.InCI() {
			t.Fatalf("tmux is not installed; CI requires it (sudo scripts/test-deps.sh): %v", err)
		}
		t.Skipf("tmux is not installed (sudo scripts/test-deps.sh; under CI=true this fails): %v", err)
	}
	// The module as `make wasm` builds it, in a real WASM host.
	m := testenv.LoadProbe(t, "./cmd", sdk.Info{Name: "tmux", Version: Version})
	// A short folder: a unix socket path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "tmux-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv := &tmuxServer{t: t, socket: filepath.Join(dir, "s")}
	probe := m.Probe(wasmhost.ProbeOptions{
		Name:      "tmux-test",
		Grants:    defaultGrants(t),
		Config:    map[string]any{"socket": srv.socket},
		MaxMemory: 16 << 20,
	})
	collect := func() sdk.Report {
		t.Helper()
		return testenv.Collect(t, probe, 20*time.Second)
	}

	r := collect()
	if r.Status != sdk.StatusOK || value(r, "tmux.sessions") != 0 || len(r.Entities) != 0 {
		t.Fatalf("no server: %+v", r)
	}

	srv.run("new-session", "-d", "-s", "work", "-x", "80", "-y", "24", "-c", dir, "sleep 600")
	t.Cleanup(func() { exec.Command("tmux", "-S", srv.socket, "kill-server").Run() })
	srv.run("new-window", "-d", "-t", "work", "-n", "logs", "sleep 601")
	srv.run("split-window", "-d", "-t", "work:0", "cat")
	srv.run("new-session", "-d", "-s", "idle", "sleep 602")
	srv.run("set-option", "-g", "remain-on-exit", "on")
	srv.run("new-window", "-d", "-t", "idle", "-n", "done", "true")
	// A client attached to "work", on a pseudo-terminal from script(1).
	client := exec.Command("script", "-qc", "tmux -S "+srv.socket+" attach -t work", "/dev/null")
	client.Env = append(os.Environ(), "TERM=xterm")
	if err := client.Start(); err != nil {
		t.Fatalf("script: %v", err)
	}
	t.Cleanup(func() { client.Process.Kill(); client.Wait() })

	deadline := time.Now().Add(10 * time.Second)
	for {
		r = collect()
		// Wait for the client to attach and the "true" pane to die.
		if value(r, "tmux.clients") == 1 && value(r, "tmux.sessions") == 2 && deadPanes(r) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // a real tmux server and client: polled on the real clock
	}
	t.Logf("report: %+v", r)
	if r.Message != "2 sessions, 1 attached" {
		t.Errorf("message = %q", r.Message)
	}
	if r.Status != sdk.StatusOK || value(r, "tmux.sessions") != 2 || value(r, "tmux.clients") != 1 {
		t.Fatalf("metrics: %+v", r.Metrics)
	}
	byName := map[string]sdk.Entity{}
	for _, e := range r.Entities {
		byName[e.Name] = e
	}
	work, idle := byName["work"], byName["idle"]
	if work.Kind != "session" || work.State != "attached" || work.Health != sdk.StatusOK ||
		work.Attrs["windows"] != float64(2) || work.Attrs["clients"] != float64(1) || work.Attrs["path"] != dir ||
		!strings.HasPrefix(work.Attrs["session_id"].(string), "$") || work.Attrs["created"] == nil || work.Attrs["activity"] == nil {
		t.Errorf("work = %+v", work)
	}
	commands := map[string]bool{}
	for _, p := range work.Attrs["panes"].([]any) {
		commands[p.(map[string]any)["command"].(string)] = true
	}
	if len(work.Attrs["panes"].([]any)) != 3 || !commands["sleep"] || !commands["cat"] {
		t.Errorf("work panes = %v", work.Attrs["panes"])
	}
	if idle.State != "detached" || idle.Health != sdk.StatusWarn || idle.Attrs["dead_panes"] != float64(1) {
		t.Errorf("idle = %+v", idle)
	}

	srv.run("kill-server")
	r = collect()
	if r.Status != sdk.StatusOK || value(r, "tmux.sessions") != 0 {
		t.Errorf("after kill-server: %+v", r)
	}

	// Without the grant, the run fails with the reason and is counted.
	denied := m.Probe(wasmhost.ProbeOptions{Name: "nogrant"})
	_, err = denied.Collect(context.Background(), sdk.Request{})
	if err == nil || !strings.Contains(err.Error(), `denied: exec of "tmux" is not granted to probe "nogrant"`) || denied.Denied() != 1 {
		t.Errorf("without a grant: err = %v, denied = %d", err, denied.Denied())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("a denial is not a timeout")
	}
}

func deadPanes(r sdk.Report) int {
	n := 0
	for _, e := range r.Entities {
		if d, ok := e.Attrs["dead_panes"].(float64); ok {
			n += int(d)
		}
	}
	return n
}

// defaultGrants are the tmux probe's grants in the default barbossa.toml:
// the probe runs under the narrow grant it ships with.
func defaultGrants(t testing.TB) hostfuncs.Grants {
	t.Helper()
	return tmuxGrants(t, barbossa.DefaultConfigName, barbossa.DefaultConfig)
}

// tmuxGrants are the grants of the tmux probe in a config.
func tmuxGrants(t testing.TB, name string, text []byte) hostfuncs.Grants {
	t.Helper()
	cfg, err := config.Parse(name, text)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Probes {
		if p.Source == "builtin:tmux" {
			return hostfuncs.Grants(p.Allow)
		}
	}
	t.Fatalf("no tmux probe in %s", name)
	return hostfuncs.Grants{}
}

// TestDefaultGrantIsTheProbesCommand: the default config, and the
// packaged one, grant exactly the argv the probe runs, with and without a socket, and nothing that
// starts a shell: finding 2 of issue #8 (exec = ["tmux"] let a probe run
// tmux new-session 'sh -c ...').
func TestDefaultGrantIsTheProbesCommand(t *testing.T) {
	packaged, err := os.ReadFile("../../packaging/barbossa.toml")
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]hostfuncs.Grants{
		"barbossa.toml":           defaultGrants(t),
		"packaging/barbossa.toml": tmuxGrants(t, "packaging/barbossa.toml", packaged),
	} {
		t.Run(name, func(t *testing.T) { testGrantIsTheProbesCommand(t, g) })
	}
}

func testGrantIsTheProbesCommand(t *testing.T, g hostfuncs.Grants) {
	h := hostfuncs.New(nil)
	defer h.Close()
	c, err := h.NewCaller("tmux", g, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cfg := range []Config{{}, {Socket: "/tmp/tmux-1000/default"}} {
		argv := command(cfg)
		out, _ := c.Call(ctx, "exec", mustJSON(t, sdk.ExecRequest{Argv: append([]string{"/nonexistent/tmux"}, argv[1:]...)}))
		if !strings.Contains(string(out), "denied") {
			t.Errorf("another program than tmux: %s", out)
		}
		// The grant itself, without running tmux: a denial would say so.
		for _, bad := range [][]string{
			{"tmux", "new-session", "-d", "sh -c 'touch /tmp/pwned'"},
			{"tmux", "list-sessions", "-F", "#(touch /tmp/pwned)"},
			{"tmux", "list-sessions", "-F", sessionFormat, ";", "run-shell", "touch /tmp/pwned"},
			append(append([]string(nil), argv...), ";", "new-session"),
		} {
			out, _ := c.Call(ctx, "exec", mustJSON(t, sdk.ExecRequest{Argv: bad}))
			if !strings.Contains(string(out), `denied: exec of \"tmux\" with arguments`) {
				t.Errorf("%q: %s", bad, out)
			}
		}
		out, _ = c.Call(ctx, "exec", mustJSON(t, sdk.ExecRequest{Argv: argv}))
		if strings.Contains(string(out), "denied") {
			t.Errorf("the probe's own command %q: %s", argv, out)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
