package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agentProcess is the real binary running a config, its log kept.
type agentProcess struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	base string
}

func startBinary(t *testing.T, bin, cfg, addr string) *agentProcess {
	t.Helper()
	p := &agentProcess{logs: &bytes.Buffer{}, base: "http://" + addr}
	p.cmd = exec.Command(bin, "run", "--config", cfg)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	return p
}

// alertState is what the test reads of GET /api/v1/alerts.
type alertState struct {
	EvaluatedAt *time.Time `json:"evaluated_at"`
	Alerts      []struct {
		Rule    string     `json:"rule"`
		State   string     `json:"state"`
		FiredAt *time.Time `json:"fired_at"`
	} `json:"alerts"`
	Receivers []struct {
		Sent   int `json:"sent"`
		Queued int `json:"queued"`
	} `json:"receivers"`
}

func (p *agentProcess) alerts() (alertState, error) {
	var st alertState
	resp, err := http.Get(p.base + "/api/v1/alerts")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// until polls the agent process on the real clock (it is another
// process) until cond holds.
func (p *agentProcess) until(t *testing.T, what string, cond func(alertState) bool) alertState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := p.alerts()
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%v, %+v)\n%s", what, err, st, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond) // another process: polled on the real clock
	}
}

// TestKilledWhileFiringNotifiesOnce: the agent is killed with SIGKILL
// while an alert fires and its notification was delivered; started again
// on the same data, the alert is firing from the same moment and the
// receiver hears nothing more.
func TestKilledWhileFiringNotifiesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	addr := freeLoopbackAddr(t)
	cfg := filepath.Join(dir, "barbossa.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
[portal]
listen = %q
[[probe]]
name = "system"
interval = "500ms"
timeout = "400ms"
[alerting]
interval = "200ms"
[[alert]]
name = "has-cpus"
series = 'system.cpu.count{probe="system"}'
above = 0
severity = "critical"
[[notify]]
name = "hook"
type = "webhook"
url = %q
group_wait = "0s"
`, addr, hook.URL)), 0o600); err != nil {
		t.Fatal(err)
	}

	first := startBinary(t, bin, cfg, addr)
	st := first.until(t, "the notification delivered", func(s alertState) bool {
		return len(s.Receivers) == 1 && s.Receivers[0].Sent == 1 && len(s.Alerts) == 1 && s.Alerts[0].State == "firing"
	})
	firedAt := *st.Alerts[0].FiredAt
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second := startBinary(t, bin, cfg, addr)
	restarted := time.Now()
	st = second.until(t, "evaluations after the restart", func(s alertState) bool {
		return s.EvaluatedAt != nil && s.EvaluatedAt.After(restarted.Add(2*time.Second))
	})
	if len(st.Alerts) != 1 || st.Alerts[0].State != "firing" || !st.Alerts[0].FiredAt.Equal(firedAt) {
		t.Fatalf("after the restart: %+v (fired at %s before)", st.Alerts, firedAt)
	}
	if n := received(); n != 1 {
		mu.Lock()
		t.Fatalf("the receiver got %d notifications, want 1:\n%s\n%s", n, strings.Join(got, "\n"), second.logs.String())
	}
	if st.Receivers[0].Queued != 0 {
		t.Fatalf("queued after restart: %+v", st.Receivers)
	}
}

// TestAlertTestCommand: `barbossa alert test RULE` sends through every
// route of the rule and says how each went; exit 1 if one failed.
func TestAlertTestCommand(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte(`
[[alert]]
name = "disk-full"
series = 'system.disk.used_percent{mount="/"}'
above = 90
severity = "critical"
[[notify]]
name = "hook"
type = "webhook"
url = "`+hook.URL+`"
[[notify]]
name = "dead"
type = "webhook"
url = "http://127.0.0.1:1/nothing-listens"
severities = ["critical"]
`), 0o600)
	var stdout, stderr bytes.Buffer
	code := run([]string{"alert", "test", "disk-full", "--config", cfg}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "hook (webhook): sent in") ||
		!strings.Contains(stdout.String(), "dead (webhook): FAILED after") || !strings.Contains(stdout.String(), "connection refused") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	mu.Lock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"test":true`) || !strings.Contains(bodies[0], `[TEST] [FIRING:1] disk-full`) {
		t.Errorf("the receiver got %q", bodies)
	}
	mu.Unlock()
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"alert", "test", "nope", "--config", cfg}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), `"nope" is neither an [[alert]] nor a [[notify]] name`) {
		t.Fatalf("unknown name: exit %d: %s", code, stderr.String())
	}
}
