package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
)

// depthConfig runs, from dir, hostile WASM guests (WAT) and native plugins
// (the test plugin's "nest") whose reports nest 9, 44 and 64 levels deep:
// the 9-level ones under a max_depth lowered to 8, the 64-level ones under
// one raised to 64, the 44-level ones under [limits] (global, then extra).
func depthConfig(global string) string {
	var b strings.Builder
	for _, p := range []struct {
		name, limits string
		nest         int
	}{{"shallow", "max_depth = 8", 5}, {"deep", "max_depth = 64", 60}, {"global", "", 40}} {
		fmt.Fprintf(&b, "[[probe]]\nname = \"w%s\"\nruntime = \"wasm\"\nsource = \"%s.wasm\"\ninterval = \"300ms\"\ntimeout = \"250ms\"\n[probe.limits]\n%s\n", p.name, p.name, p.limits)
		// The timeout leaves a plugin's start room under -race on a loaded machine.
		fmt.Fprintf(&b, "[[probe]]\nname = \"p%s\"\nruntime = \"plugin\"\nsource = \"testplugin\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n[probe.limits]\n%s\n[probe.config]\nnest = %d\n", p.name, p.limits, p.nest)
	}
	b.WriteString("[limits]\n" + global)
	return hostileConfig("", "", b.String())
}

// A report nested deeper than its probe's max_depth is refused whole, as
// an invalid report (a failed run, in the probe's health, naming the limit
// and its key), through the agent's own path for WASM guests and native
// plugins alike; a lowered max_depth refuses what the default takes, a
// raised one takes what the default refuses. A reload that changes
// [limits] applies it to the running probes it reaches, in place: the same
// collector (WASM instance, plugin process) and health, the guard's active
// series kept.
func TestReportDepthLimit(t *testing.T) {
	dir := t.TempDir()
	for name, nest := range map[string]int{"shallow": 5, "deep": 60, "global": 40} {
		staticGuest(t, dir, name, name, abitest.Nested(nest))
	}
	buildTestPlugin(t, dir)
	base, logs, a := runAgent(t, dir, depthConfig(""))

	refused := func(name string, levels int) bool {
		p, _ := getProbe(t, base, name)
		want := fmt.Sprintf("invalid report: nested deeper than %d levels (the probe's limits.max_depth)", levels)
		return p.Runs >= 2 && p.State != "ok" && strings.Contains(p.LastError, want)
	}
	accepted := func(name string) bool {
		p, _ := getProbe(t, base, name)
		return p.Runs >= 2 && p.State == "ok" && p.Report != nil && len(p.Report.Entities) == 1
	}
	waitFor(t, 60*time.Second, "the probes' runs at start", func() bool {
		return refused("wshallow", 8) && refused("pshallow", 8) && accepted("wdeep") && accepted("pdeep") &&
			refused("wglobal", 32) && refused("pglobal", 32)
	})
	for _, name := range []string{"wshallow", "pshallow", "wglobal", "pglobal"} {
		if p, _ := getProbe(t, base, name); p.Report != nil {
			t.Errorf("%s: a refused report is served: %+v", name, p.Report)
		}
	}

	// [limits] changes: max_depth reaches the probes that leave it out.
	a.mu.RLock()
	sys := a.guards["system"]
	a.mu.RUnlock()
	wglobal, pglobal := a.collectors["wglobal"], a.collectors["pglobal"]
	before, _ := getProbe(t, base, "wglobal")
	seriesBefore := sys.Series()
	writeConfig(t, dir, depthConfig("max_depth = 48\nmax_series = 1234\n"))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, logs)
	}
	waitFor(t, 60*time.Second, "the reloaded [limits] taking the 44-level reports", func() bool {
		return accepted("wglobal") && accepted("pglobal")
	})
	if !refused("wshallow", 8) || !refused("pshallow", 8) || !accepted("wdeep") || !accepted("pdeep") {
		t.Error("a probe with its own max_depth changed with [limits]")
	}
	after, _ := getProbe(t, base, "wglobal")
	if a.collectors["wglobal"] != wglobal || a.collectors["pglobal"] != pglobal || after.Runs <= before.Runs {
		t.Errorf("the probes were replaced: runs %d -> %d", before.Runs, after.Runs)
	}
	a.mu.RLock()
	same := a.guards["system"] == sys
	a.mu.RUnlock()
	if !same || sys.Config().Series != 1234 || sys.Series() < seriesBefore {
		t.Errorf("the system probe's guard: max_series %d, %d series (had %d)", sys.Config().Series, sys.Series(), seriesBefore)
	}
	if strings.Contains(logs.String(), "keys=limits") {
		t.Errorf("[limits] named as needing a restart:\n%s", logs)
	}
	// max_series reaches every probe; max_depth only wglobal and pglobal.
	if !strings.Contains(logs.String(), "probes=pdeep,pglobal,pshallow,system,wdeep,wglobal,wshallow") {
		t.Errorf("the probes [limits] reached are not named:\n%s", logs)
	}
}
