//go:build linux

package systemd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// Units the integration tests add to the harness' running and failing ones.
const (
	badUnit   = "barbossa-test-bad.service" // no ExecStart: load state bad-setting
	timerUnit = "barbossa-test.timer"       // active (waiting)
)

var extraUnits = []testenv.Unit{
	{Name: badUnit, Enable: true, Content: "[Unit]\nDescription=Barbossa test unit with a bad setting\n[Service]\nType=simple\n[Install]\nWantedBy=multi-user.target\n"},
	{Name: timerUnit, Enable: true, Content: "[Unit]\nDescription=Barbossa test timer\n[Timer]\nOnCalendar=daily\nUnit=" + testenv.RunningUnit + "\n[Install]\nWantedBy=multi-user.target\n"},
}

// grants are the narrowest grants for a probe reading bus.
func grants(bus string, details bool) hostfuncs.Grants {
	g := hostfuncs.Grants{DBus: []string{bus + " org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits"}}
	if details {
		g.DBus = append(g.DBus, bus+" org.freedesktop.systemd1 org.freedesktop.DBus.Properties.Get")
	}
	return g
}

// newWASMProbe builds the probe's module, as `make wasm` does, and loads
// it into a real WASM host.
func newWASMProbe(t testing.TB) *testenv.ProbeModule {
	return testenv.LoadProbe(t, "./cmd", sdk.Info{Name: "systemd", Version: Version})
}

// probe makes a probe of w with the narrowest grants the test gives.
func probe(w *testenv.ProbeModule, name string, g hostfuncs.Grants, cfg map[string]any) *wasmhost.Probe {
	return w.Probe(wasmhost.ProbeOptions{Name: name, Grants: g, Config: cfg})
}

// TestRealSystemdThroughWASM runs the built module in the real WASM host
// against a real systemd (booted in systemd-nspawn by internal/testenv).
func TestRealSystemdThroughWASM(t *testing.T) {
	s := testenv.StartSystemd(t, extraUnits...)
	bus := s.BusAddress()
	w := newWASMProbe(t)

	t.Run("default", func(t *testing.T) {
		p := probe(w, "systemd", grants(bus, true), map[string]any{"bus": bus})
		start := time.Now()
		r := testenv.Collect(t, p, 20*time.Second)
		t.Logf("one run: %s, %d units, %q", time.Since(start).Round(time.Millisecond), len(r.Entities), r.Message)
		if r.Status != sdk.StatusCrit || !strings.Contains(r.Message, "1 failed ("+testenv.FailingUnit+")") {
			t.Errorf("status %s, message %q", r.Status, r.Message)
		}
		if len(r.Entities) < 50 {
			t.Errorf("only %d units", len(r.Entities))
		}
		for _, e := range r.Entities {
			if ls := e.Attrs["load_state"]; ls == "not-found" || ls == "masked" {
				t.Errorf("%s (%s) reported without all = true", e.ID, ls)
			}
		}
		run := find(t, r, testenv.RunningUnit)
		if run.State != "active" || run.Health != sdk.StatusOK || run.Attrs["sub_state"] != "running" || run.Attrs["type"] != "service" {
			t.Errorf("running unit: %+v", run)
		}
		if pid, _ := run.Attrs["main_pid"].(float64); pid <= 1 {
			t.Errorf("running unit main_pid = %v", run.Attrs["main_pid"])
		}
		if run.Attrs["restarts"] != float64(0) || run.Attrs["description"] != "Barbossa test unit that runs" {
			t.Errorf("running unit attrs: %v", run.Attrs)
		}
		since, err := time.Parse(time.RFC3339, run.Attrs["since"].(string))
		if err != nil || time.Since(since) > 10*time.Minute || time.Since(since) < -time.Minute {
			t.Errorf("since = %v (%v)", run.Attrs["since"], err)
		}
		// In nspawn the memory and CPU controllers are read-only v1:
		// systemd reports 2^64-1, which must not show as a number.
		if _, ok := run.Attrs["memory_bytes"]; ok {
			t.Errorf("memory_bytes reported although systemd has no value: %v", run.Attrs["memory_bytes"])
		}
		fail := find(t, r, testenv.FailingUnit)
		if fail.State != "failed" || fail.Health != sdk.StatusCrit || fail.Attrs["result"] != "exit-code" || fail.Attrs["exit_status"] != float64(1) {
			t.Errorf("failing unit: %+v", fail)
		}
		bad := find(t, r, badUnit)
		if bad.Attrs["load_state"] != "bad-setting" || bad.Health != sdk.StatusWarn {
			t.Errorf("bad unit: %+v", bad)
		}
		if tm := find(t, r, timerUnit); tm.State != "active" || tm.Attrs["sub_state"] != "waiting" || tm.Attrs["type"] != "timer" {
			t.Errorf("timer: %+v", tm)
		}
		if metric(r, "systemd.units", "state", "failed") != 1 || metric(r, "systemd.units", "state", "active") < 10 {
			t.Errorf("systemd.units: %v", r.Metrics)
		}
		if metric(r, "systemd.unit.restarts", "unit", testenv.RunningUnit) != 0 || metric(r, "systemd.unit.restarts", "unit", testenv.FailingUnit) != 0 {
			t.Errorf("systemd.unit.restarts missing")
		}
		if p.Denied() != 0 {
			t.Errorf("%d calls denied", p.Denied())
		}
	})

	t.Run("filters", func(t *testing.T) {
		p := probe(w, "systemd-filtered", grants(bus, true), map[string]any{
			"bus": bus, "patterns": []any{"barbossa-*"}, "types": []any{"service"}, "exclude": []any{badUnit},
		})
		r := testenv.Collect(t, p, 20*time.Second)
		var got []string
		for _, e := range r.Entities {
			got = append(got, e.ID)
		}
		if strings.Join(got, " ") != testenv.FailingUnit+" "+testenv.RunningUnit {
			t.Errorf("filtered units = %v", got)
		}
	})

	t.Run("all", func(t *testing.T) {
		p := probe(w, "systemd-all", grants(bus, false), map[string]any{"bus": bus, "all": true, "details": "none"})
		r := testenv.Collect(t, p, 20*time.Second)
		notFound := 0
		for _, e := range r.Entities {
			if e.Attrs["load_state"] == "not-found" {
				notFound++
			}
			if _, ok := e.Attrs["since"]; ok {
				t.Errorf("%s has details with details = none", e.ID)
			}
		}
		if notFound == 0 || p.Denied() != 0 {
			t.Errorf("all = true: %d not-found units, %d denied", notFound, p.Denied())
		}
	})

	t.Run("details denied", func(t *testing.T) {
		p := probe(w, "systemd-nodetails", grants(bus, false), map[string]any{"bus": bus, "patterns": []any{"barbossa-*"}})
		r := testenv.Collect(t, p, 20*time.Second)
		if !strings.Contains(r.Message, "property reads denied") || !strings.Contains(r.Message, "Properties.Get") || p.Denied() != 1 {
			t.Errorf("message %q, denied %d", r.Message, p.Denied())
		}
		if find(t, r, testenv.FailingUnit).Health != sdk.StatusCrit {
			t.Error("the units are still reported")
		}
	})

	t.Run("list denied", func(t *testing.T) {
		p := probe(w, "systemd-denied", grants("system", true), map[string]any{"bus": bus})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := p.Collect(ctx, sdk.Request{})
		if err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), bus+" org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("no systemd", func(t *testing.T) {
		nobus := "unix:path=" + filepath.Join(t.TempDir(), "no-bus")
		p := probe(w, "systemd-nobus", grants(nobus, true), map[string]any{"bus": nobus})
		r := testenv.Collect(t, p, 20*time.Second)
		if r.Status != sdk.StatusOK || !strings.HasPrefix(r.Message, sdk.NotPresentPrefix+"no systemd on the D-Bus at "+nobus) {
			t.Errorf("report %+v", r)
		}
	})

	// BARBOSSA_CAPTURE=1 re-records testdata/replay.json from this system
	// (in-process, through the same host functions); then run the golden
	// test with -update.
	if os.Getenv("BARBOSSA_CAPTURE") == "1" {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("systemd", grants(bus, true), nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := &sdktest.Recorder{Next: c}
		defer sdk.SetTransport(sdk.SetTransport(rec))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := New().Collect(ctx, sdk.Request{Probe: "systemd", Config: map[string]any{"bus": bus}}); err != nil {
			t.Fatal(err)
		}
		for i := range rec.Calls { // the bus address differs per boot
			rec.Calls[i].Request = []byte(strings.ReplaceAll(string(rec.Calls[i].Request), bus, testBus))
		}
		if err := rec.Save("testdata/replay.json"); err != nil {
			t.Fatal(err)
		}
	}
}

func find(t testing.TB, r sdk.Report, id string) sdk.Entity {
	t.Helper()
	for _, e := range r.Entities {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no entity %q in %d", id, len(r.Entities))
	return sdk.Entity{}
}
