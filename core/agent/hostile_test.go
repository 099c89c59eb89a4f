package agent

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// Hostile WASM guests written in WAT, as an attacker would write them from
// docs/ABI.md: no SDK, just the exports and a report in memory.

// reportAt is where a guest's report starts: page 1, clear of the
// describe text.
const reportAt = 65536

// prelude is what every guest has: a bump allocator whose heap starts at
// heap, and the exports but collect, describing one probe of kind.
func prelude(heap int, kind string) string {
	describe := fmt.Sprintf(`{"probes":[{"name":%q,"version":"1.0.0"}]}`, kind)
	return fmt.Sprintf(`
  (global $top (mut i32) (i32.const %[1]d))
  (global $last (mut i32) (i32.const -1))
  (data (i32.const 16) "%[2]s")
  (func (export "barbossa_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "barbossa_alloc") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (global.set $last (local.get $p))
    (local.get $p))
  (func $free (export "barbossa_free") (param $p i32)
    (if (i32.eq (local.get $p) (global.get $last))
      (then (global.set $top (local.get $p)) (global.set $last (i32.const -1)))))
  (func (export "barbossa_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const %[3]d)))
`, heap, watString(describe), len(describe))
}

// watString quotes s for a WAT data segment.
func watString(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`)
}

// pagesFor is the memory a guest needs for a report of n bytes at
// reportAt, a heap after it, and room for the request.
func pagesFor(n int) int { return (reportAt+n)/65536 + 3 }

// heapAt is where a guest's allocations start: after its report.
func heapAt(n int) int { return (reportAt + n + 8) &^ 7 }

// writeGuest writes module wasm to dir/name.wasm and returns its path.
func writeGuest(t *testing.T, dir, name string, wasm []byte) string {
	t.Helper()
	path := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// staticGuest writes a module whose probe kind reports the same report
// every run; its path is dir/name.wasm.
func staticGuest(t *testing.T, dir, name, kind, report string) string {
	t.Helper()
	return writeGuest(t, dir, name, staticModule(t, kind, report))
}

// staticModule is a module whose probe kind reports the same report every
// run.
func staticModule(t *testing.T, kind, report string) []byte {
	t.Helper()
	describe := fmt.Sprintf(`{"probes":[{"name":%q,"version":"1.0.0"}]}`, kind)
	return testenv.WAT(t, abitest.WAT(describe, report))
}

// explodingGuest writes a module whose probe "explode" reports n metrics
// every run, explode.m0000 to explode.mNNNN, each with the label run set
// to the run's time in nanoseconds (16 hex digits): n new series a run,
// the series explosion of issue #8, finding 5.
func explodingGuest(t *testing.T, dir string, n int) string {
	t.Helper()
	const head = `{"status":"ok","metrics":[`
	entry := func(i int) string {
		return fmt.Sprintf(`{"name":"explode.m%04d","labels":{"run":"0000000000000000"},"value":1}`, i)
	}
	runAt := strings.Index(entry(0), `"run":"`) + len(`"run":"`)
	stride := len(entry(0)) + 1 // entries are the same length, and a comma apart
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry(i))
	}
	b.WriteString(`],"entities":[]}`)
	report := b.String()
	src := fmt.Sprintf(`(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") %[1]d)`+prelude(heapAt(len(report)), "explode")+`
  (data (i32.const %[2]d) "%[3]s")
  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (local $t i64) (local $j i32) (local $nib i32) (local $i i32) (local $dst i32)
    (call $free (local.get $ptr))
    ;; the time in ns, as 16 hex digits at 32..47
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 8)))
    (local.set $t (i64.load (i32.const 8)))
    (local.set $j (i32.const 0))
    (block $hexed (loop $hex
      (br_if $hexed (i32.ge_u (local.get $j) (i32.const 16)))
      (local.set $nib (i32.wrap_i64 (i64.and
        (i64.shr_u (local.get $t) (i64.extend_i32_u (i32.sub (i32.const 60) (i32.mul (local.get $j) (i32.const 4)))))
        (i64.const 15))))
      (i32.store8 (i32.add (i32.const 32) (local.get $j))
        (select (i32.add (local.get $nib) (i32.const 48)) (i32.add (local.get $nib) (i32.const 87))
          (i32.lt_u (local.get $nib) (i32.const 10))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $hex)))
    ;; into every metric's run label
    (local.set $i (i32.const 0))
    (block $done (loop $each
      (br_if $done (i32.ge_u (local.get $i) (i32.const %[4]d)))
      (local.set $dst (i32.add (i32.const %[5]d) (i32.mul (local.get $i) (i32.const %[6]d))))
      (i64.store (local.get $dst) (i64.load (i32.const 32)))
      (i64.store (i32.add (local.get $dst) (i32.const 8)) (i64.load (i32.const 40)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $each)))
    (i64.or (i64.shl (i64.const %[2]d) (i64.const 32)) (i64.const %[7]d))))`,
		pagesFor(len(report)), reportAt, watString(report), n, reportAt+len(head)+runAt, stride, len(report))
	return writeGuest(t, dir, "explode", testenv.WAT(t, src))
}

// hostileConfig runs the system probe and the guests in modules (each a
// probe named after its file, run every interval under timeout), then
// extra.
func hostileConfig(interval, timeout, extra string, modules ...string) string {
	var b strings.Builder
	b.WriteString(`
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
[store]
flush_interval = "100ms"
[[probe]]
name = "system"
interval = "500ms"
timeout = "400ms"
`)
	for _, m := range modules {
		name := strings.TrimSuffix(filepath.Base(m), ".wasm")
		fmt.Fprintf(&b, "[[probe]]\nname = %q\nruntime = \"wasm\"\nsource = %q\ninterval = %q\ntimeout = %q\n", name, m, interval, timeout)
	}
	b.WriteString(extra)
	return b.String()
}

type healthJSON struct {
	Name     string            `json:"name"`
	State    string            `json:"state"`
	Runs     int               `json:"runs"`
	Failures int               `json:"failures"`
	Dropped  map[string]uint64 `json:"dropped"`
	Series   int               `json:"series"`
}

type seriesJSON struct {
	Probe  string            `json:"probe"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Points [][2]float64      `json:"points"`
}

// query reads the last 30 s of a series at a 5 ms step: every sample its
// own point, since runs are at least 100 ms apart.
func query(t *testing.T, base, selector string) []seriesJSON {
	t.Helper()
	var q struct{ Series []seriesJSON }
	if code := getJSON(t, base+"/api/v1/query?from=-30s&step=0.005&series="+url.QueryEscape(selector), &q); code != 200 {
		t.Fatalf("query %s: %d", selector, code)
	}
	return q.Series
}

// A probe reporting a metric name of 70,000 bytes (over Badger's key limit)
// loses that metric, counted in its health; every other probe keeps every
// sample. Before, the shared write batch failed for everyone: "write batch
// failed, samples lost", and system.load.1 kept 6 of ~20 points (issue #8,
// finding 3).
func TestHostileLongMetricName(t *testing.T) {
	dir := t.TempDir()
	report := fmt.Sprintf(`{"status":"ok","metrics":[{"name":%q,"value":1},{"name":"longname.ok","value":2}],"entities":[]}`, strings.Repeat("x", 70_000))
	mod := staticGuest(t, dir, "longname", "longname", report)
	base, logs, a := runAgent(t, dir, hostileConfig("300ms", "250ms", "", mod))

	var h, sys healthJSON
	waitFor(t, 60*time.Second, "10 good runs of the hostile probe and 5 of the system probe", func() bool {
		getJSON(t, base+"/api/v1/probes/longname", &h)
		getJSON(t, base+"/api/v1/probes/system", &sys)
		return h.Runs-h.Failures >= 10 && sys.Runs-sys.Failures >= 5
	})
	if h.Dropped["max_name_bytes"] < 10 {
		t.Errorf("hostile probe health: %+v", h)
	}
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	getJSON(t, base+"/api/v1/probes/system", &sys)
	good := sys.Runs - sys.Failures
	// A run in flight may have reported after the flush: at most one more.
	load := query(t, base, `system.load.1{probe="system"}`)
	if len(load) != 1 || len(load[0].Points) < good-1 || len(load[0].Points) > good+1 {
		t.Errorf("system.load.1: %+v for %d good runs of the system probe", load, good)
	}
	if ok := query(t, base, "longname.ok"); len(ok) != 1 || len(ok[0].Points) < 10 {
		t.Errorf("the hostile probe's good metric: %+v", ok)
	}
	if strings.Contains(logs.String(), "write batch failed") || strings.Contains(logs.String(), "samples lost") {
		t.Errorf("a write batch failed:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "reason=max_name_bytes"); n != 1 {
		t.Errorf("the drop was logged %d times, want once", n)
	}
	metrics := getText(t, base+"/metrics")
	if !regexp.MustCompile(`barbossa_probe_dropped_total\{probe="longname",reason="max_name_bytes"\} \d+`).MatchString(metrics) {
		t.Errorf("no drop counter in /metrics")
	}
}

// A drop-in reporting system.load.1 = 999 gets a series of its own: the
// system probe's history holds none of its values, and the query API never
// merges the two (issue #8, finding 11).
func TestDropInCannotWriteIntoAnotherProbe(t *testing.T) {
	dir := t.TempDir()
	probes := filepath.Join(dir, "probes.d")
	if err := os.MkdirAll(probes, 0o755); err != nil {
		t.Fatal(err)
	}
	staticGuest(t, probes, "evil", "evil", `{"status":"ok","metrics":[{"name":"system.load.1","value":999}],"entities":[]}`)
	if err := os.WriteFile(filepath.Join(probes, "evil.toml"), []byte("interval = \"200ms\"\ntimeout = \"150ms\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _, a := runAgent(t, dir, hostileConfig("", "", ""))
	var h, sys healthJSON
	waitFor(t, 30*time.Second, "5 runs of the drop-in and 3 good ones of the system probe", func() bool {
		getJSON(t, base+"/api/v1/probes/evil", &h)
		getJSON(t, base+"/api/v1/probes/system", &sys)
		return h.Runs >= 5 && sys.Runs-sys.Failures >= 3
	})
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	own := query(t, base, `system.load.1{probe="system"}`)
	if len(own) != 1 || own[0].Probe != "system" || len(own[0].Points) < 3 {
		t.Fatalf("system's series: %+v", own)
	}
	for _, p := range own[0].Points {
		if p[1] == 999 {
			t.Fatalf("system's system.load.1 holds the drop-in's 999 at %v", p[0])
		}
	}
	both := query(t, base, "system.load.1")
	if len(both) != 2 {
		t.Fatalf("system.load.1 of any probe: %d series, want 2 (one each)", len(both))
	}
	for _, s := range both {
		for _, p := range s.Points {
			if (p[1] == 999) != (s.Probe == "evil") {
				t.Errorf("series of %s holds %v", s.Probe, p[1])
			}
		}
	}
	metrics := getText(t, base+"/metrics")
	if !strings.Contains(metrics, `system_load_1{probe="evil"} 999`) || strings.Contains(metrics, `system_load_1{probe="system"} 999`) {
		t.Errorf("/metrics mixes the two:\n%s", grepLines(metrics, "system_load_1"))
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, part string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// seriesCount pages through /api/v1/series for probe and counts.
func seriesCount(t *testing.T, base, probe string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		var page struct {
			Series     []seriesJSON
			NextCursor *string `json:"next_cursor"`
		}
		if code := getJSON(t, base+"/api/v1/series?limit=5000&probe="+probe+"&cursor="+url.QueryEscape(cursor), &page); code != 200 {
			t.Fatalf("series: %d", code)
		}
		n += len(page.Series)
		if page.NextCursor == nil {
			return n
		}
		cursor = *page.NextCursor
	}
}

// heapInUse is the Go heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// A probe minting a new label value every run (3,000 metrics a run, each
// run's label unique) hits max_series: the store keeps at most that many of
// its series, the rest is dropped and counted, and the agent's memory stops
// growing. Before, 534k series in 6.5 minutes took the agent to 694 MB, and
// one unpaginated /api/v1/series to 730 MB (issue #8, finding 5).
func TestSeriesExplosionIsBounded(t *testing.T) {
	dir := t.TempDir()
	const perRun, maxSeries = 3000, 7000
	mod := explodingGuest(t, dir, perRun)
	// A second between runs: a 200 KB report takes a while to decode under
	// the race detector on a busy machine.
	base, _, a := runAgent(t, dir, hostileConfig("1s", "900ms", fmt.Sprintf("[probe.limits]\nmax_series = %d\n", maxSeries), mod))

	var h healthJSON
	good := func(n int) {
		waitFor(t, 90*time.Second, fmt.Sprintf("%d good runs of the exploding probe", n), func() bool {
			getJSON(t, base+"/api/v1/probes/explode", &h)
			return h.Runs-h.Failures >= n
		})
	}
	good(4) // at the limit after three
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	good(h.Runs - h.Failures + 15) // 45,000 more new series, without the limit
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	after := heapInUse()
	getJSON(t, base+"/api/v1/probes/explode", &h)
	t.Logf("%d runs: heap in use %d -> %d MiB; health %+v", h.Runs, before>>20, after>>20, h)
	if h.Series != maxSeries {
		t.Errorf("%d active series, want the limit, %d", h.Series, maxSeries)
	}
	if min := uint64(perRun*(h.Runs-h.Failures-1) - maxSeries); h.Dropped["max_series"] < min {
		t.Errorf("dropped %d series' samples, want at least %d", h.Dropped["max_series"], min)
	}
	if n := seriesCount(t, base, "explode"); n != maxSeries {
		t.Errorf("%d series stored, want %d", n, maxSeries)
	}
	// 15 runs of 3,000 new series grow the heap by ~40 MB without the limit
	// (index, rollup buckets, the writer's maps: see docs/PERFORMANCE.md);
	// at the limit it does not grow.
	if after > before+16<<20 {
		t.Errorf("heap grew from %d to %d MiB over 15 runs at the series limit", before>>20, after>>20)
	}
}

// TestSeriesExplosionFootprint measures rather than asserts, so it runs
// only when asked, with the series limit on (the default, 10,000) or off:
//
//	BARBOSSA_EXPLOSION=limited   go test -run TestSeriesExplosionFootprint -count=1 -v ./core/agent
//	BARBOSSA_EXPLOSION=unlimited go test -run TestSeriesExplosionFootprint -count=1 -v ./core/agent
//
// A probe reports 3,000 metrics a run with a label unique to the run, every
// 200 ms, for 60 runs (180,000 series without a limit); then /api/v1/series
// is read to the end a page at a time. It logs the Go heap in use and the
// process's resident size.
func TestSeriesExplosionFootprint(t *testing.T) {
	mode := os.Getenv("BARBOSSA_EXPLOSION")
	if mode == "" {
		t.Skip("set BARBOSSA_EXPLOSION=limited or unlimited to measure")
	}
	dir := t.TempDir()
	mod := explodingGuest(t, dir, 3000)
	extra := ""
	if mode == "unlimited" {
		extra = "[probe.limits]\nmax_series = 10000000\n"
	}
	base, _, a := runAgent(t, dir, hostileConfig("200ms", "150ms", extra, mod))
	var h healthJSON
	heap0, rss0 := heapInUse(), rssMB()
	waitFor(t, 5*time.Minute, "60 runs", func() bool {
		getJSON(t, base+"/api/v1/probes/explode", &h)
		return h.Runs >= 60
	})
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	heap1, rss1 := heapInUse(), rssMB()
	start := time.Now()
	n := seriesCount(t, base, "explode")
	took := time.Since(start)
	heap2, rss2 := heapInUse(), rssMB()
	t.Logf("%s: %d runs, %d series stored, active %d, dropped %v", mode, h.Runs, n, h.Series, h.Dropped)
	t.Logf("heap in use MiB: start %d, after the runs %d, after listing every series %d", heap0>>20, heap1>>20, heap2>>20)
	t.Logf("RSS MiB: start %d, after the runs %d, after listing %d (in %s, pages of 5000)", rss0, rss1, rss2, took.Round(time.Millisecond))

	// The probe removed (a reload without it): what the agent keeps of it.
	writeConfig(t, dir, hostileConfig("200ms", "150ms", ""))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the probe gone", func() bool {
		_, code := getProbe(t, base, "explode")
		return code == 404
	})
	if err := a.store.Flush(); err != nil {
		t.Fatal(err)
	}
	debug.FreeOSMemory()
	heap3, rss3 := heapInUse(), rssMB()
	t.Logf("after the probe was removed: heap in use %d MiB, RSS %d MiB", heap3>>20, rss3)
}

// rssMB is this process's resident set size in MiB.
func rssMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb >> 10
		}
	}
	return 0
}

// TestHostileWideReportCapped: a guest reporting 3,000 metrics and 500
// entities a run, under max_metrics = 1000 and max_entities = 100, has the
// rest dropped before the store: the served report, the stored series and
// the drop counts all say so, and the probe next to it is untouched.
func TestHostileWideReportCapped(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"status":"ok","metrics":[`)
	for i := range 3000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"wide.m%04d","value":%d}`, i, i)
	}
	b.WriteString(`],"entities":[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"kind":"thing","id":"t%03d","name":"t%03d","state":"up","health":"ok"}`, i, i)
	}
	b.WriteString(`]}`)
	mod := staticGuest(t, dir, "wide", "wide", b.String())
	base, _, _ := runAgent(t, dir, hostileConfig("1s", "900ms", "[probe.limits]\nmax_metrics = 1000\nmax_entities = 100\n", mod))

	var h healthJSON
	waitFor(t, 60*time.Second, "three runs of the wide probe", func() bool {
		getJSON(t, base+"/api/v1/probes/wide", &h)
		return h.Runs-h.Failures >= 3
	})
	var p wasmProbeJSON
	getJSON(t, base+"/api/v1/probes/wide", &p)
	if p.Report == nil || len(p.Report.Metrics) != 1000 || len(p.Report.Entities) != 100 {
		t.Fatalf("the served report: %+v", p)
	}
	if last := p.Report.Metrics[999].Name; last != "wide.m0999" {
		t.Errorf("the 1000th metric kept is %q, want the report's own 1000th, wide.m0999", last)
	}
	getJSON(t, base+"/api/v1/probes/wide", &h)
	if runs := uint64(h.Runs - h.Failures); h.Dropped["max_metrics"] < 2000*runs || h.Dropped["max_entities"] < 400*runs {
		t.Errorf("dropped %v over %d runs, want 2,000 metrics and 400 entities a run", h.Dropped, runs)
	}
	if n := seriesCount(t, base, "wide"); n != 1000 {
		t.Errorf("%d series stored, want 1000", n)
	}
	var sys healthJSON
	getJSON(t, base+"/api/v1/probes/system", &sys)
	if sys.State != "ok" || len(sys.Dropped) != 0 {
		t.Errorf("the system probe beside it: %+v", sys)
	}
}
