package wasmhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// go test ./core/wasmhost -run '^$' -bench . -count 5

func BenchmarkCompile(b *testing.B) {
	for _, name := range []string{"goguest", "probe.wat"} {
		wasm := guest(b, name)
		b.Run(name+"/cold", func(b *testing.B) {
			for b.Loop() {
				compileOnce(b, b.TempDir(), wasm)
			}
		})
		b.Run(name+"/cached", func(b *testing.B) {
			dir := b.TempDir()
			compileOnce(b, dir, wasm)
			for b.Loop() {
				compileOnce(b, dir, wasm)
			}
		})
	}
}

// compileOnce compiles wasm in a new Host with the given cache directory,
// as an agent does at start; only the compile is timed.
func compileOnce(b *testing.B, cacheDir string, wasm []byte) {
	ctx := context.Background()
	b.StopTimer()
	h, err := New(Options{CacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	if _, err := h.rt.CompileModule(ctx, wasm); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	h.Close(ctx)
	b.StartTimer()
}

func BenchmarkInstantiate(b *testing.B) {
	for _, name := range []string{"goguest", "probe.wat"} {
		b.Run(name, func(b *testing.B) {
			h, _ := newHost(b)
			p := newProbe(b, h, load(b, h, name), ProbeOptions{Name: "bench"})
			ctx := context.Background()
			for b.Loop() {
				if err := p.instantiate(ctx); err != nil {
					b.Fatal(err)
				}
				p.discard()
			}
		})
	}
}

func BenchmarkCollect(b *testing.B) {
	for _, name := range []string{"goguest", "probe.wat"} {
		for _, keep := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/keep=%v", name, keep), func(b *testing.B) {
				h, _ := newHost(b)
				p := newProbe(b, h, load(b, h, name), ProbeOptions{Name: "bench", KeepInstance: keep})
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				for b.Loop() {
					if _, err := p.Collect(ctx, sdk.Request{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRSS measures resident memory in a fresh process each time (the
// test binary re-run as a helper), so earlier tests do not blur it. It
// reports MiB for the module, and per probe with its instance kept or not.
func BenchmarkRSS(b *testing.B) {
	guest(b, "goguest") // build it here, not in the helper
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSHelper$")
		cmd.Env = append(os.Environ(), "WASMHOST_RSS_HELPER="+guestDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "rss "); ok && k == "" {
				name, val, _ := strings.Cut(v, "=")
				f, _ := strconv.ParseFloat(val, 64)
				b.ReportMetric(f, name)
			}
		}
	}
}

const rssProbes = 8

func TestRSSHelper(t *testing.T) {
	dir := os.Getenv("WASMHOST_RSS_HELPER")
	if dir == "" {
		t.Skip("run by BenchmarkRSS")
	}
	guestDir = dir
	wasm, err := os.ReadFile(filepath.Join(dir, "goguest.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	settle := func() float64 {
		runtime.GC()
		debug.FreeOSMemory()
		return vmRSS(t)
	}
	base := settle()
	h, err := New(Options{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Load(ctx, "goguest", wasm)
	if err != nil {
		t.Fatal(err)
	}
	loaded := settle()
	fmt.Printf("rss module-MiB=%.1f\n", loaded-base)

	var kept []*Probe
	for i := range rssProbes {
		p, err := h.NewProbe(m, ProbeOptions{Name: fmt.Sprint("kept", i), KeepInstance: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Collect(ctx, sdk.Request{}); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, p)
	}
	withKept := settle()
	fmt.Printf("rss kept-MiB/probe=%.2f\n", (withKept-loaded)/rssProbes)
	for _, p := range kept {
		p.Close()
	}
	closed := settle()

	for i := range rssProbes {
		p, err := h.NewProbe(m, ProbeOptions{Name: fmt.Sprint("fresh", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Collect(ctx, sdk.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	unsettled := vmRSS(t)
	fresh := settle()
	fmt.Printf("rss fresh-MiB/probe=%.2f\n", (fresh-closed)/rssProbes)
	fmt.Printf("rss fresh-unscavenged-MiB/probe=%.2f\n", (unsettled-closed)/rssProbes)
	h.Close(ctx)
}

// vmRSS returns this process's resident set in MiB.
func vmRSS(t *testing.T) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkTimeout measures how far past its deadline a spinning guest
// runs: the promise that a looping probe is stopped within 10 ms. A timed
// unit test cannot hold that bound on a loaded machine, so the figure is
// a benchmark's: overshoot-ms is the median of the runs, max-overshoot-ms
// the worst.
func BenchmarkTimeout(b *testing.B) {
	const timeout = 50 * time.Millisecond
	h, _ := newHost(b)
	guests := []struct {
		name string
		m    *Module
		cfg  map[string]any
	}{
		{"loop.wat", load(b, h, "loop.wat"), nil},
		{"goguest-spin", load(b, h, "goguest"), map[string]any{"mode": "spin"}},
	}
	for _, g := range guests {
		b.Run(g.name, func(b *testing.B) {
			p := newProbe(b, h, g.m, ProbeOptions{Name: "spin", KeepInstance: true, Config: g.cfg})
			var over []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := collect(b, p, timeout); !errors.Is(err, context.DeadlineExceeded) {
					b.Fatalf("err = %v, want context.DeadlineExceeded", err)
				}
				over = append(over, time.Since(start)-timeout)
			}
			slices.Sort(over)
			b.ReportMetric(float64(over[len(over)/2])/1e6, "overshoot-ms")
			b.ReportMetric(float64(over[len(over)-1])/1e6, "max-overshoot-ms")
		})
	}
}
