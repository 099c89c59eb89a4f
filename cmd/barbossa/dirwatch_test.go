package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// TestDirwatchWorkedExample is issue #14's "done when", as a new author
// goes through it with the real binary: `barbossa probe new dirwatch`, the
// worked example's source (examples/dirwatch) in place of the template's,
// `make` with no network; the module and its pinned TOML dropped into a
// running agent's probes folder, whose barbossa.toml names no probe. With
// a read grant on one folder of 12,000 files and nothing else, the probe
// shows up in the API within seconds, reports its listing cut at 10,000
// (status warn, dirwatch.truncated 1), counts all 12,000 once the TOML
// raises max_dir_entries, and the same source built native and dropped in
// with its checksum counts them too.
func TestDirwatchWorkedExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, a module and a plugin")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is not installed: %v", err)
	}
	tmp := t.TempDir()
	bin := buildBinary(t)
	proj := filepath.Join(tmp, "dirwatch")
	sh := func(dir string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, offlineEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	sh(tmp, bin, "probe", "new", "dirwatch", "--dir", proj)

	// The folder: 12,000 files, two of them over 1 MiB (sparse), the
	// newest a minute old.
	outbox := filepath.Join(tmp, "outbox")
	os.Mkdir(outbox, 0o755)
	var bytes int64
	old, newest := time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
	put := func(name string, size int64, mtime time.Time) {
		p := filepath.Join(outbox, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Truncate(p, size)
		os.Chtimes(p, mtime, mtime)
		bytes += size
	}
	for i := range 11998 {
		put(fmt.Sprintf("msg-%05d", i), int64(i%7), old)
	}
	put("big-a", 3<<20, newest)
	put("big-b", 2<<20, old)

	// The example's source and entry in place of the template's.
	for _, f := range []string{"dirwatch.go", "dirwatch_test.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "dirwatch", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(proj, f), b, 0o644)
	}
	entry, err := os.ReadFile(filepath.Join("..", "..", "examples", "dirwatch", "dirwatch.toml"))
	if err != nil {
		t.Fatal(err)
	}
	writeEntry := func(raise bool) {
		t.Helper()
		s := strings.ReplaceAll(string(entry), "/var/spool/outbox", outbox)
		s = strings.Replace(s, `interval = "30s"`, `interval = "20s"`, 1)
		s = strings.Replace(s, `timeout = "5s"`, `timeout = "15s"`, 1)
		if raise {
			s = strings.Replace(s, "# max_dir_entries = 20000", "max_dir_entries = 20000", 1)
		}
		if err := os.WriteFile(filepath.Join(proj, "probe.toml"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeEntry(false)
	sh(proj, "make")
	sh(proj, "go", "test", "./...")

	// The agent: no probe in its file, a probes folder.
	agentDir := filepath.Join(tmp, "agent")
	drop := filepath.Join(agentDir, "probes.d")
	os.MkdirAll(drop, 0o755)
	addr := freeLoopbackAddr(t)
	cfg := filepath.Join(agentDir, "barbossa.toml")
	cfgText := "[agent]\ndata_dir = \"data\"\nprobes_dir = \"probes.d\"\n[portal]\nlisten = \"" + addr + "\"\n"
	os.WriteFile(cfg, []byte(cfgText), 0o600)
	agent := startBinary(t, bin, cfg, addr)
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) { // another process: polled on the real clock
		resp, err := http.Get(agent.base + "/api/v1/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the agent does not answer: %v\n%s", err, agent.logs.String())
		}
	}

	install := func(from string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(proj, from))
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(drop, "."+from+".tmp")
		if err := os.WriteFile(tmp, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(tmp, mode)
		if err := os.Rename(tmp, filepath.Join(drop, from)); err != nil {
			t.Fatal(err)
		}
	}
	type probeJSON struct {
		Runtime   string      `json:"runtime"`
		State     string      `json:"state"`
		LastError string      `json:"last_error"`
		Report    *sdk.Report `json:"report"`
	}
	get := func() (probeJSON, int) {
		var p probeJSON
		resp, err := http.Get(agent.base + "/api/v1/probes/dirwatch")
		if err != nil {
			return p, 0
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&p)
		return p, resp.StatusCode
	}
	metric := func(r *sdk.Report, name string) float64 {
		for _, m := range r.Metrics {
			if m.Name == name {
				return m.Value
			}
		}
		return -1
	}
	// until polls the agent (another process: on the real clock) until
	// the probe runs as runtime with files counted.
	until := func(what, runtime string, files float64, within time.Duration) probeJSON {
		t.Helper()
		start := time.Now()
		for {
			p, code := get()
			if code == 200 && p.Runtime == runtime && p.Report != nil && metric(p.Report, "dirwatch.files") == files {
				t.Logf("%s: after %s", what, time.Since(start).Round(time.Millisecond))
				return p
			}
			if time.Since(start) > within {
				t.Fatalf("%s: not within %s: %d %+v\n%s", what, within, code, p, agent.logs.String())
			}
			time.Sleep(100 * time.Millisecond) // another process: polled on the real clock
		}
	}
	// Within seconds: the agent looks at its probes folder every 2 s,
	// compiles the module and runs it at once. On a quiet machine that is
	// 3-4 s; the limits are for a machine running several test suites
	// (a load of 25 on 2 cores made one probe test take 47 s).
	install("dirwatch.wasm", 0o644)
	install("dirwatch.toml", 0o644)
	p := until("the WASM drop-in, cut at 10,000", "wasm", 10000, 2*time.Minute)
	if p.Report.Status != sdk.StatusWarn || metric(p.Report, "dirwatch.truncated") != 1 || !strings.Contains(p.Report.Message, "max_dir_entries") {
		t.Errorf("a listing cut at 10,000 is not reported as such: %+v", p.Report)
	}

	check := func(p probeJSON) {
		t.Helper()
		r := p.Report
		if r.Status != sdk.StatusOK || metric(r, "dirwatch.truncated") != 0 || metric(r, "dirwatch.bytes") != float64(bytes) || metric(r, "dirwatch.big_files") != 2 {
			t.Errorf("%s: %+v", p.Runtime, r)
		}
		if age, most := metric(r, "dirwatch.newest_age_seconds"), time.Since(newest).Seconds(); age < 60 || age > most {
			t.Errorf("%s: the newest file is %v s old; want 60 to %.0f (it was a minute old at the start)", p.Runtime, age, most)
		}
		if len(r.Entities) != 2 || r.Entities[0].ID != "big-a" || r.Entities[0].Attrs["bytes"] != float64(3<<20) || r.Entities[1].ID != "big-b" {
			t.Errorf("%s: entities %+v", p.Runtime, r.Entities)
		}
	}
	writeEntry(true)
	sh(proj, "make")
	install("dirwatch.toml", 0o644)
	check(until("the limit raised", "wasm", 12000, 2*time.Minute))

	// The same source as a native plugin, pinned by its checksum.
	os.Remove(filepath.Join(drop, "dirwatch.wasm"))
	os.Remove(filepath.Join(drop, "dirwatch.toml"))
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) { // another process: polled on the real clock
		if _, code := get(); code == 404 {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the removed drop-in still runs\n%s", agent.logs.String())
		}
	}
	sh(proj, "make", "native")
	if b, _ := os.ReadFile(filepath.Join(proj, "dirwatch.toml")); !strings.Contains(string(b), `sha256 = "`) {
		t.Fatalf("make native wrote no sha256:\n%s", b)
	}
	install("dirwatch", 0o755)
	install("dirwatch.toml", 0o644)
	check(until("the native drop-in", "plugin", 12000, 2*time.Minute))

	if b, _ := os.ReadFile(cfg); string(b) != cfgText {
		t.Errorf("barbossa.toml changed:\n%s", b)
	}
}
