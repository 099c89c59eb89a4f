package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/portal"
)

// statusDropIns is what /api/v1/status says of the probes folder.
func statusDropIns(t *testing.T, base string) []portal.DropInProblem {
	t.Helper()
	var st struct {
		DropInProblems []portal.DropInProblem `json:"dropin_problems"`
	}
	getJSON(t, base+"/api/v1/status", &st)
	return st.DropInProblems
}

// hasProblem finds the problem of file whose error holds want.
func hasProblem(list []portal.DropInProblem, file, want string) (portal.DropInProblem, bool) {
	for _, p := range list {
		if p.File == file && strings.Contains(p.Error, want) {
			return p, true
		}
	}
	return portal.DropInProblem{}, false
}

// TestNativeDropIns drops a native plugin binary with its NAME.toml into
// a running agent's probes folder: refused without sha256 (the reason, with
// the binary's sum, in the status), run once pinned, a changed binary
// refused while the pinned one runs on (marked on the probe), reloaded
// when the TOML pins the new one, refused when writable by others or
// beside a NAME.wasm, and stopped when removed — without a restart or an
// edit of barbossa.toml.
func TestNativeDropIns(t *testing.T) {
	defer func(d time.Duration) { dropInPoll = d }(dropInPoll)
	dropInPoll = 50 * time.Millisecond

	dir := t.TempDir()
	drop := filepath.Join(dir, "probes.d")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	v1 := buildTestPlugin(t, dir)
	sum1, err := pluginhost.FileSHA256(v1)
	if err != nil {
		t.Fatal(err)
	}
	// A second build that differs: trailing bytes an ELF loader ignores.
	data, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(dir, "testplugin.v2")
	if err := os.WriteFile(v2, append(data, "v2"...), 0o755); err != nil {
		t.Fatal(err)
	}
	sum2, _ := pluginhost.FileSHA256(v2)

	base, logs, _ := runAgent(t, dir, "[agent]\ndata_dir = \"data\"\nprobes_dir = \"probes.d\"\n[portal]\nlisten = \"127.0.0.1:0\"\n")
	bin, toml := filepath.Join(drop, "native"), filepath.Join(drop, "native.toml")
	put := func(path, from string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".tmp", b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path+".tmp", mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	putTOML := func(text string) {
		t.Helper()
		if err := os.WriteFile(toml+".tmp", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(toml+".tmp", toml); err != nil {
			t.Fatal(err)
		}
	}
	const body = "interval = \"1s\"\ntimeout = \"900ms\"\n"
	// Without sha256: refused, the binary's sum in the reason.
	put(bin, v1, 0o755)
	putTOML(body)
	waitFor(t, 10*time.Second, "the unpinned binary refused", func() bool {
		_, ok := hasProblem(statusDropIns(t, base), toml, `a plugin drop-in must pin its binary, which runs with the agent's rights: add sha256 = "`+sum1+`"`)
		return ok
	})
	if _, code := getProbe(t, base, "native"); code != 404 {
		t.Fatalf("an unpinned plugin runs: %d", code)
	}

	// Pinned: it runs as a plugin.
	putTOML(fmt.Sprintf("sha256 = %q\n%s", sum1, body))
	var p wasmProbeJSON
	waitFor(t, 15*time.Second, "the pinned plugin reporting", func() bool {
		p, _ = getProbe(t, base, "native")
		return p.Report != nil && len(p.Report.Metrics) > 0
	})
	if p.Runtime != "plugin" || p.Source != bin || p.DropInError != nil {
		t.Fatalf("native = %+v", p)
	}
	if list := statusDropIns(t, base); len(list) != 0 {
		t.Errorf("problems once pinned: %+v", list)
	}

	// A new binary the TOML does not pin: refused, the pinned one runs on,
	// marked as superseded by the refused version.
	put(bin, v2, 0o755)
	wantMismatch := "native has sha256 " + sum2 + ", but its TOML pins " + sum1
	waitFor(t, 10*time.Second, "the unpinned new binary refused", func() bool {
		p, _ = getProbe(t, base, "native")
		return p.DropInError != nil && strings.Contains(p.DropInError.Error, wantMismatch)
	})
	if pr, ok := hasProblem(statusDropIns(t, base), toml, wantMismatch); !ok || pr.Probe != "native" || pr.Line != 1 {
		t.Errorf("status problems %+v; want the mismatch at %s:1, running native", statusDropIns(t, base), toml)
	}
	runs := p.Runs
	waitFor(t, 10*time.Second, "the pinned version running on", func() bool {
		p, _ = getProbe(t, base, "native")
		return p.Runs >= runs+2 && p.State == "ok"
	})

	// The TOML pins the new binary: reloaded, the mark gone.
	putTOML(fmt.Sprintf("sha256 = %q\n%s", sum2, body))
	// The reload is seen in the log: the replaced probe's first run starts
	// at once, so its run count may pass the old one's before a poll sees it
	// lower, and the store keeps the latest report across the replacement.
	waitFor(t, 15*time.Second, "the reload", func() bool {
		p, _ = getProbe(t, base, "native")
		return p.DropInError == nil && strings.Contains(logs.String(), "drop-in probe reloaded")
	})
	waitFor(t, 10*time.Second, "the reloaded plugin reporting", func() bool {
		p, _ = getProbe(t, base, "native")
		return p.Runs >= 1 && p.State == "ok" && p.Report != nil
	})

	// Writable by others: refused with the reason.
	if err := os.Chmod(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the world-writable binary refused", func() bool {
		_, ok := hasProblem(statusDropIns(t, base), bin, "the drop-in file is writable by others (-rwxrwxrwx): refused; chmod go-w it")
		return ok
	})
	os.Chmod(bin, 0o755)
	waitFor(t, 10*time.Second, "trusted again", func() bool { return len(statusDropIns(t, base)) == 0 })

	// NAME.wasm beside NAME: one or the other.
	if err := os.WriteFile(filepath.Join(drop, "native.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the ambiguous drop-in refused", func() bool {
		_, ok := hasProblem(statusDropIns(t, base), toml, "both native.wasm and native are beside it")
		return ok
	})
	os.Remove(filepath.Join(drop, "native.wasm"))

	// Removed: the probe goes, and its process with it.
	os.Remove(bin)
	waitFor(t, 10*time.Second, "the removed plugin gone", func() bool {
		_, code := getProbe(t, base, "native")
		return code == 404
	})
	waitFor(t, 10*time.Second, "the lone TOML not a problem", func() bool { return len(statusDropIns(t, base)) == 0 })
}

// TestCheckNativeDropIn: `barbossa check` and `barbossa probes` read a
// plugin drop-in as the agent loads it: listed when pinned, refused
// unpinned (giving the sum) or not executable, and never checked as WASM.
func TestCheckNativeDropIn(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "probes.d")
	os.Mkdir(drop, 0o755)
	bin := filepath.Join(drop, "tool")
	os.WriteFile(bin, []byte("#!/bin/sh\nexit 1\n"), 0o755)
	sum, _ := pluginhost.FileSHA256(bin)
	cfg := writeConfig(t, dir, "[agent]\nprobes_dir = \"probes.d\"\n")

	os.WriteFile(filepath.Join(drop, "tool.toml"), []byte(fmt.Sprintf("sha256 = %q\ninterval = \"1m\"\n", sum)), 0o644)
	probes, errs := DropIns(cfg)
	if len(errs) != 0 || len(probes) != 1 || probes[0].Runtime != "plugin" || probes[0].Source != bin {
		t.Fatalf("pinned: %+v %v", probes, errs)
	}
	if errs := Check(cfg); len(errs) != 0 {
		t.Errorf("check of a pinned plugin drop-in: %v", errs)
	}

	os.WriteFile(filepath.Join(drop, "tool.toml"), []byte("interval = \"1m\"\n"), 0o644)
	if _, errs := DropIns(cfg); len(errs) != 1 || !strings.Contains(errs[0].Error(), filepath.Join(drop, "tool.toml")+":1: sha256: ") ||
		!strings.Contains(errs[0].Error(), sum) {
		t.Errorf("unpinned: %v", errs)
	}
	os.WriteFile(filepath.Join(drop, "tool.toml"), []byte(fmt.Sprintf("sha256 = %q\n", sum)), 0o644)
	os.Chmod(bin, 0o644)
	if _, errs := DropIns(cfg); len(errs) != 1 || !strings.Contains(errs[0].Error(), bin+": a plugin binary that is not executable") {
		t.Errorf("not executable: %v", errs)
	}
}
