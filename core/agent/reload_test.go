package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
)

// TestDropIns adds, changes, breaks and removes drop-in probes in a running
// agent and checks each is picked up, and that a probe from the main config
// runs on undisturbed throughout (its run count never resets).
func TestDropIns(t *testing.T) {
	defer func(d time.Duration) { dropInPoll = d }(dropInPoll)
	dropInPoll = 50 * time.Millisecond

	dir := t.TempDir()
	drop := filepath.Join(dir, "probes.d")
	os.MkdirAll(drop, 0o755)
	os.WriteFile(filepath.Join(dir, "steady.wasm"), watProbe(t, "steady", "steady"), 0o644)
	v1, v2 := watProbe(t, "dropped", "v1"), watProbe(t, "dropped", "v2")
	put := func(name string, data []byte) {
		t.Helper()
		// Written aside and renamed, as a careful deploy does; the agent
		// copes with plain writes too (it waits for files to settle).
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(drop, name)); err != nil {
			t.Fatal(err)
		}
	}
	// One good drop-in before start.
	put("early.wasm", v1)
	put("early.toml", []byte("interval = \"200ms\"\ntimeout = \"100ms\"\n"))

	base, logs, a := runAgent(t, dir, `
[agent]
probes_dir = "probes.d"
[portal]
listen = "127.0.0.1:0"
[[probe]]
name = "steady"
runtime = "wasm"
source = "steady.wasm"
interval = "100ms"
timeout = "50ms"
`)
	steadyRuns := 0
	steady := func() {
		t.Helper()
		p, _ := getProbe(t, base, "steady")
		if p.Runs < steadyRuns {
			t.Fatalf("the steady probe was disturbed: runs went from %d to %d", steadyRuns, p.Runs)
		}
		if p.State != "ok" {
			t.Fatalf("steady = %+v", p)
		}
		steadyRuns = p.Runs
	}
	waitFor(t, 10*time.Second, "the early drop-in", func() bool {
		p, _ := getProbe(t, base, "early")
		return p.Report != nil && p.Report.Message == "v1"
	})
	steady()

	// Added while running; name from the file, grants and config from the TOML.
	put("dropped.wasm", v1)
	put("dropped.toml", []byte("name = \"dropped\"\ninterval = \"300ms\"\ntimeout = \"100ms\"\n[allow]\nread = [\"/proc/uptime\"]\n[config]\ncolour = \"blue\"\n"))
	var p wasmProbeJSON
	waitFor(t, 10*time.Second, "the added drop-in", func() bool {
		p, _ = getProbe(t, base, "dropped")
		return p.Report != nil && p.Report.Message == "v1"
	})
	if p.Runtime != "wasm" || p.Source != filepath.Join(drop, "dropped.wasm") || p.IntervalMS != 300 {
		t.Errorf("dropped = %+v", p)
	}
	a.mu.RLock()
	got := a.probes["dropped"]
	a.mu.RUnlock()
	if got.Config["colour"] != "blue" || len(got.Allow.Read) != 1 {
		t.Errorf("the drop-in's [config] and [allow] were not applied: %+v", got)
	}
	steady()

	// The TOML changes: the probe is reloaded with the new interval.
	put("dropped.toml", []byte("interval = \"400ms\"\ntimeout = \"100ms\"\n"))
	waitFor(t, 10*time.Second, "the changed interval", func() bool {
		p, _ = getProbe(t, base, "dropped")
		return p.IntervalMS == 400
	})
	// The module changes: the new code runs.
	put("dropped.wasm", v2)
	waitFor(t, 10*time.Second, "the new module", func() bool {
		p, _ = getProbe(t, base, "dropped")
		return p.Report != nil && p.Report.Message == "v2"
	})
	steady()

	// A bad new version is reported with file, line and key; the running
	// version keeps running.
	put("dropped.toml", []byte("interval = \"400ms\"\ntimeout = \"1s\"\n"))
	wantErr := filepath.Join(drop, "dropped.toml") + `:2: timeout: probe \"dropped\": 1s must be shorter than interval 400ms`
	waitFor(t, 10*time.Second, "the bad version's error", func() bool { return strings.Contains(logs.String(), wantErr) })
	runs := p.Runs
	waitFor(t, 10*time.Second, "the previous version running on", func() bool {
		p, _ = getProbe(t, base, "dropped")
		return p.Runs > runs+1 && p.Report.Message == "v2" && p.IntervalMS == 400
	})
	if n := strings.Count(logs.String(), wantErr); n != 1 {
		t.Errorf("the bad version was reported %d times, want once", n)
	}
	// ... and in the API: on the probe running on, and in the status.
	if e := p.DropInError; e == nil || e.File != filepath.Join(drop, "dropped.toml") || e.Line != 2 || !strings.Contains(e.Error, "must be shorter than interval") {
		t.Errorf("dropped's dropin_error = %+v; want the refused version at dropped.toml:2", e)
	}
	if pr, ok := hasProblem(statusDropIns(t, base), filepath.Join(drop, "dropped.toml"), "must be shorter"); !ok || pr.Probe != "dropped" {
		t.Errorf("status dropin_problems %+v", statusDropIns(t, base))
	}

	// A bad new drop-in is skipped, each problem located.
	put("bad.wasm", v1)
	put("bad.toml", []byte("interval = \"1s\"\nruntime = \"plugin\"\nsource = \"/bin/sh\"\n[allow]\nexecc = [\"sh\"]\n"))
	for _, want := range []string{
		filepath.Join(drop, "bad.toml") + `:5: allow.execc: unknown key`,
		filepath.Join(drop, "bad.toml") + `:2: runtime: \"plugin\": a drop-in is a WASM probe (bad.wasm); leave runtime out`,
		filepath.Join(drop, "bad.toml") + `:3: source: a drop-in runs bad.wasm beside it; leave source out`,
	} {
		waitFor(t, 10*time.Second, want, func() bool { return strings.Contains(logs.String(), want) })
	}
	if _, code := getProbe(t, base, "bad"); code != 404 {
		t.Errorf("the bad drop-in is served: %d", code)
	}
	if pr, ok := hasProblem(statusDropIns(t, base), filepath.Join(drop, "bad.toml"), "allow.execc: unknown key"); !ok || pr.Probe != "" {
		t.Errorf("the bad drop-in in the status: %+v", statusDropIns(t, base))
	}
	// A drop-in may not take a name in use.
	put("clash.wasm", v1)
	put("clash.toml", []byte("name = \"steady\"\n"))
	wantClash := filepath.Join(drop, "clash.toml") + `:1: name: probe \"steady\" is already defined in ` + filepath.Join(dir, "barbossa.toml") + ":"
	waitFor(t, 10*time.Second, "the name clash", func() bool { return strings.Contains(logs.String(), wantClash) })
	put("twin.wasm", v2)
	put("twin.toml", []byte("name = \"early\"\n"))
	wantTwin := filepath.Join(drop, "twin.toml") + `:1: name: probe \"early\" is already defined in ` + filepath.Join(drop, "early.toml")
	waitFor(t, 10*time.Second, "the clash of two drop-ins", func() bool { return strings.Contains(logs.String(), wantTwin) })
	steady()

	// Removing either file removes the probe, and frees its module.
	os.Remove(filepath.Join(drop, "dropped.wasm"))
	waitFor(t, 10*time.Second, "the removed drop-in gone", func() bool {
		_, code := getProbe(t, base, "dropped")
		return code == 404
	})
	// With early.toml gone, the name is free: twin, refused for taking it,
	// loads under it.
	os.Remove(filepath.Join(drop, "early.toml"))
	waitFor(t, 10*time.Second, "twin taking the free name", func() bool {
		p, _ := getProbe(t, base, "early")
		return p.Source == filepath.Join(drop, "twin.wasm") && p.Report != nil && p.Report.Message == "v2"
	})
	os.Remove(filepath.Join(drop, "twin.toml"))
	waitFor(t, 10*time.Second, "the last drop-in gone", func() bool {
		_, code := getProbe(t, base, "early")
		return code == 404
	})
	if !strings.Contains(logs.String(), `msg="drop-in ignored: a probe needs NAME.toml beside NAME.wasm or NAME (a plugin binary)" file=`+filepath.Join(drop, "early.wasm")) {
		t.Error("the lone early.wasm is not reported")
	}
	a.wasm.mu.Lock()
	modules := len(a.wasm.modules)
	a.wasm.mu.Unlock()
	if modules != 1 { // steady's; v1 and v2 were freed with their last probe
		t.Errorf("%d modules loaded, want 1", modules)
	}
	runs = steadyRuns
	waitFor(t, 10*time.Second, "the steady probe running on", func() bool {
		p, _ := getProbe(t, base, "steady")
		return p.Runs >= runs+3
	})
	steady()
}

func TestParseDropIn(t *testing.T) {
	const file = "/d/x.toml"
	for _, tc := range []struct {
		name, text string
		want       []string // error substrings; none: valid
		check      func(t *testing.T, p config.Probe)
	}{
		{name: "empty", text: "", check: func(t *testing.T, p config.Probe) {
			if p.Name != "x" || p.Runtime != "wasm" || p.Source != "/d/x.wasm" || p.Interval.Duration != config.DefaultInterval || p.MaxMemory != config.DefaultMaxMemory {
				t.Errorf("defaults: %+v", p)
			}
		}},
		{name: "full", text: "name = \"y\"\ninterval = \"1m\"\ntimeout = \"5s\"\nmax_memory = \"16MiB\"\nsha256 = \"" + strings.Repeat("ab", 32) + "\"\n[allow]\nexec = [\"git\"]\n[config]\nroot = \"/src\"\n[config.nested]\nk = 1\n",
			check: func(t *testing.T, p config.Probe) {
				if p.Name != "y" || p.Timeout.Duration != 5*time.Second || p.MaxMemory != 16<<20 || p.Allow.Exec[0] != "git" || p.Config["root"] != "/src" {
					t.Errorf("full: %+v", p)
				}
			}},
		{name: "syntax", text: "interval = \n", want: []string{"/d/x.toml:1:"}},
		{name: "type", text: "\n\ninterval = 5\n", want: []string{"/d/x.toml:3: interval:"}},
		{name: "checks", text: "name = \"a b\"\n\ninterval = \"50ms\"\nmax_memory = \"1KiB\"\n",
			want: []string{`/d/x.toml:1: name: probe "a b": "a b" may hold only`, `/d/x.toml:3: interval: probe "a b": 50ms is too short`, `/d/x.toml:4: max_memory:`}},
		{name: "dotted key", text: "allow.exe = [\"x\"]\n", want: []string{"/d/x.toml:1: allow.exe: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseDropIn(dropInFiles{stem: "x", toml: file, code: "/d/x.wasm", runtime: config.RuntimeWASM}, []byte(tc.text), 7*24*time.Hour)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, p)
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
