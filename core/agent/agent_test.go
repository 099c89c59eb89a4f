package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/sdk"
)

// flaky reports a counter until told to fail; the stale test uses it to make
// a probe stop reporting while the agent keeps running.
type flaky struct{ failing atomic.Bool }

var theFlaky = &flaky{}

func (f *flaky) Info() sdk.Info { return sdk.Info{Name: "flaky"} }

func (f *flaky) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	if f.failing.Load() {
		return sdk.Report{}, errors.New("target went away")
	}
	var r sdk.Report
	r.Gauge("flaky.value", 42, map[string]string{"kind": "answer"})
	r.Add(sdk.Entity{Kind: "thing", ID: "t1", Name: "t1", State: "running", Health: sdk.StatusOK})
	return r, nil
}

func init() {
	builtins["flaky"] = func() sdk.Probe { return theFlaky }
}

const testConfig = `
[agent]
data_dir = "data"
log_level = "debug"
[portal]
listen = "127.0.0.1:0"
[store]
flush_interval = "100ms"
[[probe]]
name = "system"
interval = "500ms"
timeout = "400ms"
[[probe]]
name = "flaky"
interval = "200ms"
timeout = "100ms"
stale_after = "1s"
`

// startAgent runs an agent with testConfig on dir until the returned stop
// is called (or the test ends).
func startAgent(t *testing.T, dir string) (base string, stop func()) {
	t.Helper()
	base, _, _, stop = startAgentWith(t, dir, testConfig)
	return base, stop
}

// startAgentWith runs an agent with config text cfgText (written to
// dir/barbossa.toml) and returns its portal's base URL, its log, the agent,
// and stop, which is safe to call more than once and is called when the
// test ends.
func startAgentWith(t *testing.T, dir, cfgText string) (string, *logBuffer, *Agent, func()) {
	t.Helper()
	cfg := writeConfig(t, dir, cfgText)
	logs := &logBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitFor(t, 10*time.Second, "the portal", func() bool { return a.Addr() != "" })
	waitForWASM(t, a)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the agent did not stop within 20s")
		}
	}
	t.Cleanup(stop)
	return "http://" + a.Addr(), logs, a, stop
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

type probeJSON struct {
	Name      string `json:"name"`
	Runtime   string `json:"runtime"`
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Runs      int    `json:"runs"`
	// ReportState is fresh, stale or none.
	ReportState string `json:"report_state"`
	Report      *struct {
		Metrics []sdk.Metric `json:"metrics"`
	} `json:"report"`
}

// waitFor polls until cond holds or fails the test after d.
// waitForWASM returns once the agent's built-in WASM modules are loaded:
// they load in the background while the portal answers (wasm.go), and a
// cold compile under -race on a busy machine takes a minute or more. The
// tests' own deadlines start after it, as when New loaded them.
func waitForWASM(t *testing.T, a *Agent) {
	t.Helper()
	loaded := make(chan struct{})
	go func() {
		a.wasm.loading.Wait()
		close(loaded)
	}()
	// The agent bounds a load: the compile child (its CPU time, and a hang
	// by childHangTimeout), then the describe. Waiting less would fail a
	// slow machine's load that the agent itself lets finish.
	limit := childHangTimeout + 5*time.Minute
	select {
	case <-loaded:
	case <-time.After(limit):
		t.Fatalf("the built-in WASM modules did not load within %s", limit)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond) // a running agent, on real sockets: polled on the real clock
	}
}

func TestAgentEndToEnd(t *testing.T) {
	theFlaky.failing.Store(false)
	dir := t.TempDir()
	base, stop := startAgent(t, dir)

	// The real system probe reports through the API.
	var sys probeJSON
	waitFor(t, 10*time.Second, "a system report", func() bool {
		getJSON(t, base+"/api/v1/probes/system", &sys)
		return sys.Report != nil && sys.State == "ok"
	})
	names := map[string]bool{}
	for _, m := range sys.Report.Metrics {
		names[m.Name] = true
	}
	for _, want := range []string{"system.cpu.percent", "system.memory.used_percent", "system.load.1"} {
		if !names[want] {
			t.Errorf("system report lacks %s", want)
		}
	}

	var status struct {
		Probes []probeJSON `json:"probes"`
	}
	if code := getJSON(t, base+"/api/v1/status", &status); code != 200 || len(status.Probes) != 2 {
		t.Fatalf("status: code %d, %d probes", code, len(status.Probes))
	}
	if code := getJSON(t, base+"/api/v1/probes/nope", nil); code != 404 {
		t.Errorf("unknown probe: %d, want 404", code)
	}

	// History accumulates and is served by the query API.
	const query = "/api/v1/query?series=flaky.value&from=-1h&to=now&step=1s"
	var q struct {
		Series []struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
			Points [][2]float64      `json:"points"`
		} `json:"series"`
	}
	waitFor(t, 10*time.Second, "stored points", func() bool {
		getJSON(t, base+query, &q)
		return len(q.Series) == 1 && len(q.Series[0].Points) >= 3
	})
	if q.Series[0].Labels["kind"] != "answer" || q.Series[0].Points[0][1] != 42 {
		t.Errorf("series = %+v", q.Series[0])
	}
	before := len(q.Series[0].Points)

	// A probe that stops reporting goes stale: once its last report is
	// older than stale_after it is no longer served as current. Its state
	// says why (failing, with the error).
	theFlaky.failing.Store(true)
	var fl probeJSON
	waitFor(t, 10*time.Second, "flaky's report to go stale", func() bool {
		getJSON(t, base+"/api/v1/probes/flaky", &fl)
		return fl.ReportState == "stale"
	})
	if fl.Report != nil {
		t.Errorf("stale probe still serves a report: %+v", fl.Report)
	}
	if fl.State != "failing" || fl.LastError == "" {
		t.Errorf("stale probe: state %q, last_error %q; want failing with the error", fl.State, fl.LastError)
	}

	// Restart on the same data dir: history survives.
	stop()
	theFlaky.failing.Store(false)
	base, _ = startAgent(t, dir)
	getJSON(t, base+query, &q)
	if len(q.Series) != 1 || len(q.Series[0].Points) < before {
		t.Fatalf("after restart: %d series, want the %d points from before", len(q.Series), before)
	}
	var health string
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	health = string(b)
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d %s", resp.StatusCode, health)
	}
}

func TestNewRejectsUnknownBuiltin(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "b.toml"), []byte("[[probe]]\nname = \"nosuch\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, slog.New(slog.DiscardHandler), "test")
	if err == nil {
		t.Fatal("unknown builtin accepted")
	}
	want := fmt.Sprintf("%s:1: probe \"nosuch\": no builtin probe \"nosuch\"", cfg.File)
	if got := err.Error(); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("error %q, want prefix %q", got, want)
	}
}
