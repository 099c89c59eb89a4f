package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

func collect(t testing.TB, p *Probe, timeout time.Duration) (sdk.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Collect(ctx, sdk.Request{})
}

func mustCollect(t testing.TB, p *Probe) sdk.Report {
	t.Helper()
	r, err := collect(t, p, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// entity returns the report's "call" entity i.
func entity(t *testing.T, r sdk.Report, i int) sdk.Entity {
	t.Helper()
	for _, e := range r.Entities {
		if e.Kind == "call" && e.ID == string(rune('0'+i)) {
			return e
		}
	}
	t.Fatalf("no call entity %d in %+v", i, r)
	return sdk.Entity{}
}

func TestWATProbe(t *testing.T) {
	h, logs := newHost(t)
	m := load(t, h, "probe.wat")
	if got := m.Probes(); len(got) != 1 || got[0].Name != "wat" || got[0].Version != "1.0.0" {
		t.Fatalf("Probes() = %+v", got)
	}
	p := newProbe(t, h, m, ProbeOptions{Name: "w"})
	r := mustCollect(t, p)
	if r.Status != sdk.StatusOK || r.Message != "hello from WAT" || len(r.Metrics) != 1 || r.Metrics[0].Value != 42 {
		t.Fatalf("report = %+v", r)
	}
	if logs.find("collect called", "probe=w", "source=guest") == "" {
		t.Fatalf("guest log missing:\n%s", logs.dump())
	}
}

func TestGoGuestHostCalls(t *testing.T) {
	h, logs := newHost(t)
	m := load(t, h, "goguest")
	if got := m.Probes(); len(got) != 2 || got[0].Name != "goguest" || got[1].Name != "echo" {
		t.Fatalf("Probes() = %+v", got)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("file data"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newProbe(t, h, m, ProbeOptions{
		Name:   "go1",
		Grants: hostfuncs.Grants{Exec: []string{"echo"}, Read: []string{dir}},
		Config: map[string]any{"calls": []any{
			map[string]any{"exec": []any{"echo", "hello", "world"}},
			map[string]any{"read": filepath.Join(dir, "f.txt")},
			map[string]any{"list": dir},
		}},
	})
	r := mustCollect(t, p)
	if r.Status != sdk.StatusOK {
		t.Fatalf("status %s: %+v", r.Status, r)
	}
	if e := entity(t, r, 0); e.Attrs["stdout"] != "hello world\n" || e.Attrs["exit_code"] != float64(0) {
		t.Errorf("exec: %+v", e)
	}
	if e := entity(t, r, 1); e.Attrs["data"] != "file data" {
		t.Errorf("read_file: %+v", e)
	}
	if e := entity(t, r, 2); e.Attrs["entries"] != float64(1) {
		t.Errorf("list: %+v", e)
	}
	if logs.find("INFO collect", "probe=go1", "mode=\"\"") == "" {
		t.Errorf("sdk.Log message missing:\n%s", logs.dump())
	}
	var deadline float64 = -1
	for _, m := range r.Metrics {
		if m.Name == "goguest.has_deadline" {
			deadline = m.Value
		}
	}
	if deadline != 1 {
		t.Errorf("the guest's context has no deadline (goguest.has_deadline = %v)", deadline)
	}
	// A second run works too (a fresh instance: KeepInstance is off).
	mustCollect(t, p)
	if p.Denied() != 0 {
		t.Errorf("Denied() = %d", p.Denied())
	}
}

func TestDeniedCalls(t *testing.T) {
	h, logs := newHost(t)
	m := load(t, h, "goguest")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ok"), []byte("ok"), 0o644)
	secret := t.TempDir()
	os.WriteFile(filepath.Join(secret, "s"), []byte("secret"), 0o644)
	if err := os.Symlink(filepath.Join(secret, "s"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	p := newProbe(t, h, m, ProbeOptions{
		Name:   "x",
		Grants: hostfuncs.Grants{Read: []string{dir}},
		Config: map[string]any{"calls": []any{
			map[string]any{"exec": []any{"rm", "-rf", "/"}},
			map[string]any{"read": "/etc/passwd"},
			map[string]any{"http": map[string]any{"url": "http://127.0.0.1:1/"}},
			map[string]any{"read": dir + "/../" + filepath.Base(secret) + "/s"},
			map[string]any{"read": filepath.Join(dir, "link")},
			map[string]any{"read": filepath.Join(dir, "ok")}, // the probe keeps running
		}},
	})
	r := mustCollect(t, p)
	want := []string{
		`exec: denied: exec of "rm" is not granted to probe "x"`,
		`read_file: denied: read of "/etc/passwd" is not granted to probe "x"`,
		`http: denied: http GET of "http://127.0.0.1:1/" is not granted to probe "x"`,
		`read_file: denied: read of "` + filepath.Join(filepath.Dir(dir), filepath.Base(secret), "s") + `" is not granted`,
		`read_file: denied: read of "` + filepath.Join(dir, "link") + `" (it resolves to "` + filepath.Join(secret, "s") + `") is not granted`,
	}
	for i, w := range want {
		e := entity(t, r, i)
		if got, _ := e.Attrs["error"].(string); !strings.HasPrefix(got, w) || e.Attrs["denied"] != true {
			t.Errorf("call %d: error %q (denied %v), want prefix %q", i, got, e.Attrs["denied"], w)
		}
	}
	if e := entity(t, r, 5); e.Attrs["data"] != "ok" {
		t.Errorf("granted read after denials: %+v", e)
	}
	if p.Denied() != 5 {
		t.Errorf("Denied() = %d, want 5", p.Denied())
	}
	if logs.find("WARN host call denied", "probe=x", "func=exec", `exec of "rm"`) == "" {
		t.Errorf("denied exec not logged:\n%s", logs.dump())
	}
}

func TestSameModuleTwoProbesDifferentGrants(t *testing.T) {
	h, _ := newHost(t)
	m := load(t, h, "goguest")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644)
	cfg := map[string]any{"calls": []any{map[string]any{"read": filepath.Join(dir, "f")}}}
	a := newProbe(t, h, m, ProbeOptions{Name: "a", Grants: hostfuncs.Grants{Read: []string{dir}}, Config: cfg})
	b := newProbe(t, h, m, ProbeOptions{Name: "b", Config: cfg})
	echo := newProbe(t, h, m, ProbeOptions{Name: "e", Kind: "echo"})

	var wg sync.WaitGroup
	reports := make([]sdk.Report, 3)
	for i, p := range []*Probe{a, b, echo} {
		wg.Go(func() { reports[i] = mustCollect(t, p) })
	}
	wg.Wait()
	if e := entity(t, reports[0], 0); e.Attrs["data"] != "data" {
		t.Errorf("probe a: %+v", e)
	}
	if e := entity(t, reports[1], 0); !strings.Contains(e.Attrs["error"].(string), `is not granted to probe "b"`) {
		t.Errorf("probe b: %+v", e)
	}
	if reports[2].Message != "echo e" {
		t.Errorf("echo probe: %+v", reports[2])
	}
	if a.Denied() != 0 || b.Denied() != 1 {
		t.Errorf("Denied: a %d, b %d", a.Denied(), b.Denied())
	}
	if echo.Info().Name != "echo" {
		t.Errorf("Info() = %+v", echo.Info())
	}
	if _, err := h.NewProbe(m, ProbeOptions{Name: "z", Kind: "nope"}); err == nil || !strings.Contains(err.Error(), `no probe of kind "nope"`) {
		t.Errorf("unknown kind: %v", err)
	}
}

// assertTimeout runs p, whose guest spins, with the given timeout and
// checks the run stopped at it. It bounds the CPU time the run used: a
// guest not stopped at its deadline goes on spinning, while the wall time
// past the deadline also counts time a busy machine gave this process no
// CPU at all (a 200 ms run once took 902 ms of wall time so).
func assertTimeout(t *testing.T, p *Probe, timeout time.Duration) {
	t.Helper()
	start, cpu0 := time.Now(), sdktest.CPUTime()
	_, err := collect(t, p, timeout)
	took, cpu := time.Since(start), sdktest.CPUTime()-cpu0
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	t.Logf("timeout %s: stopped after %s, %s of CPU: %v", timeout, took.Round(time.Microsecond), cpu.Round(time.Microsecond), err)
	if limit := timeout + 500*time.Millisecond; cpu > limit {
		t.Errorf("the run used %s of CPU, want < %s: the guest ran on past its deadline", cpu, limit)
	}
	if p.inst != nil {
		t.Error("the instance was kept after a timeout")
	}
}

func TestLoopingGuestStoppedAtTimeout(t *testing.T) {
	h, _ := newHost(t)
	p := newProbe(t, h, load(t, h, "loop.wat"), ProbeOptions{Name: "loop", KeepInstance: true})
	for range 2 {
		assertTimeout(t, p, 200*time.Millisecond)
	}

	m := load(t, h, "goguest")
	t.Run("go-spin", func(t *testing.T) {
		p := newProbe(t, h, m, ProbeOptions{Name: "spin", KeepInstance: true, Config: map[string]any{"mode": "spin"}})
		assertTimeout(t, p, 300*time.Millisecond)
	})
	// A guest asleep (for an hour) is woken at its deadline: on the fake
	// clock the run ends at it exactly.
	t.Run("go-sleep", func(t *testing.T) {
		p := newProbe(t, h, m, ProbeOptions{Name: "sleep", KeepInstance: true, Config: map[string]any{"mode": "sleep"}})
		synctest.Test(t, func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			start := time.Now()
			_, err := collect(t, p, timeout)
			if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took != timeout {
				t.Fatalf("err = %v after %s; want context.DeadlineExceeded after %s", err, took, timeout)
			}
			if p.inst != nil {
				t.Error("the instance was kept after a timeout")
			}
		})
	})
}

func TestOOMGuestDiscardedNextRunHealthy(t *testing.T) {
	h, logs := newHost(t)
	flag := filepath.Join(t.TempDir(), "oom")
	os.WriteFile(flag, []byte("1"), 0o644)
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{
		Name:         "hog",
		MaxMemory:    32 << 20,
		KeepInstance: true,
		Grants:       hostfuncs.Grants{Read: []string{flag}},
		Config:       map[string]any{"mode": "oom", "oom_flag": flag},
	})
	_, err := collect(t, p, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), `probe "hog"`) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("err = %v, want an out of memory error naming the probe\n%s", err, logs.dump())
	}
	t.Logf("OOM error: %v", err)
	if p.inst != nil {
		t.Fatal("the instance was kept after running out of memory")
	}
	os.WriteFile(flag, []byte("0"), 0o644)
	if r := mustCollect(t, p); r.Status != sdk.StatusOK {
		t.Fatalf("next run: %+v", r)
	}

	w := newProbe(t, h, load(t, h, "oom.wat"), ProbeOptions{Name: "watoom", MaxMemory: 4 << 20})
	_, err = collect(t, w, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "(guest memory 3.1 of 4 MiB)") {
		t.Fatalf("WAT oom: err = %v", err)
	}
}

func TestBadReportsAreClearErrors(t *testing.T) {
	h, _ := newHost(t)
	g := newProbe(t, h, load(t, h, "garbage.wat"), ProbeOptions{Name: "junk"})
	_, err := collect(t, g, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), `probe "junk": barbossa_collect: invalid report: `) || !strings.Contains(err.Error(), `"this is not a report`) {
		t.Fatalf("garbage: %v", err)
	}
	t.Logf("garbage report: %v", err)

	m := load(t, h, "goguest")
	for mode, want := range map[string]string{
		"error": `probe "error": collect failed: cannot run: on purpose`,
		"panic": `probe "panic": collect failed: probe "goguest" panicked: on purpose`,
	} {
		p := newProbe(t, h, m, ProbeOptions{Name: mode, Config: map[string]any{"mode": mode}})
		if _, err := collect(t, p, 10*time.Second); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("mode %s: err = %v, want prefix %q", mode, err, want)
		}
	}
}

func TestLoadRefusesWhatIsNotAProbe(t *testing.T) {
	h, _ := newHost(t)
	_, err := h.Load(context.Background(), "abi2", guest(t, "abi2.wat"))
	if err == nil || !strings.Contains(err.Error(), `wasm module "abi2": ABI version 2 is not supported: this agent speaks ABI version 1`) {
		t.Fatalf("abi2: %v", err)
	}
	for name, tc := range map[string]struct{ wat, want string }{
		"no exports":        {`(module (memory (export "memory") 1))`, "does not export barbossa_abi_version"},
		"bad import":        {`(module (import "env" "f" (func)) (memory (export "memory") 1))`, "imports env.f: only the barbossa and wasi_snapshot_preview1 modules"},
		"unknown host func": {`(module (import "barbossa" "shell" (func)) (memory (export "memory") 1))`, "imports barbossa.shell, which this agent does not provide"},
		"command":           {`(module (func (export "_start")) (memory (export "memory") 1))`, "it is a WASI command"},
		"bad signature": {`(module (memory (export "memory") 1)
			(func (export "barbossa_abi_version") (result i64) i64.const 1))`, "export barbossa_abi_version has signature () -> (i64), want () -> (i32)"},
	} {
		wasm := watBytes(t, tc.wat)
		if _, err := h.Load(context.Background(), name, wasm); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := h.Load(context.Background(), "junk", []byte("not wasm")); err == nil || !strings.Contains(err.Error(), `compile wasm module "junk"`) {
		t.Errorf("junk: %v", err)
	}
}

func watBytes(t *testing.T, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "m.wat")
	os.WriteFile(in, []byte(src), 0o644)
	out := filepath.Join(dir, "m.wasm")
	if b, err := execCommand("wat2wasm", in, "-o", out); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGuestOutputCapturedAndBounded(t *testing.T) {
	h, logs := newHost(t)
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{Name: "chatty", Config: map[string]any{"mode": "print"}})
	mustCollect(t, p)
	if logs.find("guest output", "stream=stdout", "text=hello on stdout", "probe=chatty") == "" {
		t.Errorf("stdout not in the log:\n%.2000s", logs.dump())
	}
	// 2,000 lines of 100 bytes: the log limit (120 records a minute, the
	// guest's "collect" message included) cuts them first.
	if n := logs.count("stream=stdout text=xxx"); n != 118 {
		t.Errorf("%d lines logged, want the 118 the log limit leaves", n)
	}
}

// TestGuestOutputFloodUnderTheLogLimit is finding 6 of issue #8: 64 KiB
// of one-letter lines a run on stdout (and stderr) made 65,536 log
// records a run, 70.8 MB of log in 10 s. Output now counts against the
// probe's log limit, 120 records a minute, whatever the number of runs.
func TestGuestOutputFloodUnderTheLogLimit(t *testing.T) {
	h, logs := newHost(t)
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{Name: "flood", Config: map[string]any{"mode": "flood"}})
	for range 5 {
		mustCollect(t, p)
	}
	if n := logs.count("probe=flood"); n != 120 {
		t.Errorf("%d log records from 5 runs of 128 KiB of output, want 120 (the limit a minute)", n)
	}
	if logs.count("stream=stdout text=x") == 0 {
		t.Errorf("the output is not logged as it should:\n%.2000s", logs.dump())
	}
}

func TestConcurrentRunsOfOneProbeAreSerialised(t *testing.T) {
	h, _ := newHost(t)
	p := newProbe(t, h, load(t, h, "probe.wat"), ProbeOptions{Name: "w", KeepInstance: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := collect(t, p, 10*time.Second); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// memStats returns the host's live heap after a GC.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestManyCollectsWithoutMemoryGrowth(t *testing.T) {
	h, _ := newHost(t)
	wat := load(t, h, "probe.wat")
	goMod := load(t, h, "goguest")
	n, nGo := 10000, 300
	if testing.Short() {
		n, nGo = 1000, 50
	}
	for _, tc := range []struct {
		name string
		m    *Module
		keep bool
		n    int
	}{
		{"wat-kept", wat, true, n},
		{"wat-fresh", wat, false, n},
		{"go-kept", goMod, true, nGo},
		{"go-fresh", goMod, false, nGo / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProbe(t, h, tc.m, ProbeOptions{Name: tc.name, KeepInstance: tc.keep})
			warm := max(tc.n/10, 20)
			for range warm {
				mustCollect(t, p)
			}
			var pagesBefore uint32
			if tc.keep {
				pagesBefore = p.inst.Memory().Size() / pageSize
			}
			heapBefore := heapAlloc()
			start := time.Now()
			for range tc.n {
				mustCollect(t, p)
			}
			per := time.Since(start) / time.Duration(tc.n)
			heapAfter := heapAlloc()
			growth := int64(heapAfter) - int64(heapBefore)
			t.Logf("%d collects, %s each; host heap %d KiB -> %d KiB (%+d KiB)", tc.n, per, heapBefore>>10, heapAfter>>10, growth/1024)
			if growth > 4<<20 {
				t.Errorf("host heap grew by %d KiB over %d collects", growth/1024, tc.n)
			}
			if tc.keep {
				pagesAfter := p.inst.Memory().Size() / pageSize
				t.Logf("guest memory %d pages -> %d pages", pagesBefore, pagesAfter)
				if pagesAfter > pagesBefore+16 { // 1 MiB of slack for the Go GC's pacing
					t.Errorf("guest memory grew from %d to %d pages over %d collects", pagesBefore, pagesAfter, tc.n)
				}
			}
		})
	}
}

func TestMemoryLimitPerProbe(t *testing.T) {
	h, _ := newHost(t)
	m := load(t, h, "oom.wat") // grows 1 MiB at a time until refused, then traps
	for _, limit := range []uint64{2 << 20, 8 << 20} {
		p := newProbe(t, h, m, ProbeOptions{Name: "m", MaxMemory: limit})
		_, err := collect(t, p, 10*time.Second)
		want := fmt.Sprintf("of %d MiB)", limit>>20)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("limit %d MiB: %v, want %q", limit>>20, err, want)
		}
	}
	g := load(t, h, "goguest")
	if _, err := h.NewProbe(g, ProbeOptions{Name: "tiny", MaxMemory: 1 << 20}); err == nil || !strings.Contains(err.Error(), `max_memory of 1024 KiB is below the`) {
		t.Errorf("a limit below the module's initial memory: %v", err)
	}
}

func TestGuestMemory(t *testing.T) {
	alloc, m := allocator(3 * pageSize)
	lm := alloc.Allocate(pageSize, 65536*pageSize)
	if b := lm.Reallocate(pageSize); len(b) != pageSize {
		t.Fatalf("initial: %d bytes", len(b))
	}
	b := lm.Reallocate(3 * pageSize)
	if len(b) != 3*pageSize || b[3*pageSize-1] != 0 {
		t.Fatalf("grow to the limit: %d bytes", len(b))
	}
	b[0] = 7
	if lm.Reallocate(4*pageSize) != nil {
		t.Fatal("grew past the limit")
	}
	if b2 := lm.Reallocate(3 * pageSize); &b2[0] != &b[0] || b2[0] != 7 {
		t.Fatal("the memory moved or lost its contents")
	}
	m.Free()
	m.Free() // twice is fine
	if lm.Reallocate(pageSize) != nil {
		t.Fatal("a freed memory grew")
	}
}

// TestStatefulProbeKeepsItsInstance: a probe whose description says
// stateful keeps its instance (and so its counters) between runs even when
// the options do not ask for it; one that does not starts fresh each run.
func TestStatefulProbeKeepsItsInstance(t *testing.T) {
	h, _ := newHost(t)
	m := load(t, h, "counter.wat")
	for kind, want := range map[string][]float64{"counter": {1, 1, 1}, "tally": {1, 2, 3}} {
		p := newProbe(t, h, m, ProbeOptions{Name: kind, Kind: kind})
		var got []float64
		for range want {
			got = append(got, mustCollect(t, p).Metrics[0].Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: runs seen %v, want %v", kind, got, want)
		}
	}
}

// TestRoom: what an answer may take is what the guest's memory can still
// grow by, and one page for a guest at its limit (examples/wat's probe
// runs in one page and reads /proc/uptime through it).
func TestRoom(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		size  uint32
		want  int64
	}{
		{16 << 20, 1 << 20, 15 << 20},
		{16 << 20, 16<<20 - 100<<10, 100 << 10},
		{16 << 20, 16<<20 - 10<<10, minRoom},
		{64 << 10, 64 << 10, minRoom},
		{64 << 10, 128 << 10, minRoom},
	} {
		if got := room(tc.limit, tc.size); got != tc.want {
			t.Errorf("room(%d, %d) = %d, want %d", tc.limit, tc.size, got, tc.want)
		}
	}
}
