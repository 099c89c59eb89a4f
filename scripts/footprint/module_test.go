//go:build linux && footprint

package footprint

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/barbossa-agent/barbossa/core/builtinwasm"
)

var modulePath = flag.String("module", "", "TestModuleResidency: a .wasm file instead of the built-in bundle (a wasm-opt output, say)")

// TestModuleResidency weighs keeping the compiled module of built-in probes
// resident against closing it after each use and compiling it again from
// the on-disk compilation cache (what a run every 30 s would then pay):
//
//	go test -tags footprint -run TestModuleResidency -v ./scripts/footprint
//
// It uses wazero as core/wasmhost configures it (compiler, file cache,
// WithCloseOnContextDone) in this process, and reads RSS from /proc after a
// GC that returns freed memory to the OS.
func TestModuleResidency(t *testing.T) {
	wasm, err := builtinwasm.Bundle()
	if *modulePath != "" {
		wasm, err = os.ReadFile(*modulePath)
	}
	if err != nil {
		t.Fatalf("%v (make wasm)", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	runtimeWithCache := func() wazero.Runtime {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache).WithCloseOnContextDone(true))
	}
	settle := func() (Proc, uint64) {
		// wazero unmaps compiled code in a finalizer: let it run, then
		// collect what it released.
		runtime.GC()
		time.Sleep(100 * time.Millisecond) // finalizers run on their own goroutine, with no event to wait for
		debug.FreeOSMemory()
		p, err := ReadProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return p, ms.HeapInuse
	}

	// A cold compile fills the on-disk cache, as an agent's first start does.
	rt := runtimeWithCache()
	start := time.Now()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	cm.Close(ctx)
	rt.Close(ctx)
	// What a restarted agent, or a reload before each run, does: a new
	// runtime finds the compiled code only on disk. Closing the compiled
	// module alone was measured to give nothing back (wazero v1.12 keeps it
	// reachable), so each round closes the whole runtime.
	base, baseHeap := settle()
	var loads, cpus []float64
	var kept, keptHeap, closed []float64
	for range 5 {
		rt := runtimeWithCache()
		cpu0, t0 := cpuTime(), time.Now()
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		loads = append(loads, time.Since(t0).Seconds())
		cpus = append(cpus, (cpuTime() - cpu0).Seconds())
		p, heap := settle()
		kept = append(kept, float64(p.RSS-base.RSS))
		keptHeap = append(keptHeap, float64(int64(heap)-int64(baseHeap)))
		if err := cm.Close(ctx); err != nil {
			t.Fatal(err)
		}
		p, _ = settle()
		onlyModule := p.RSS - base.RSS
		if err := rt.Close(ctx); err != nil {
			t.Fatal(err)
		}
		p, _ = settle()
		closed = append(closed, float64(p.RSS-base.RSS))
		t.Logf("compiled: +%s; module closed: +%s; runtime closed: +%s", MB(kept[len(kept)-1]), MB(float64(onlyModule)), MB(closed[len(closed)-1]))
	}
	t.Logf("module of %d bytes; cold compile %v", len(wasm), cold.Round(time.Millisecond))
	t.Logf("compile from the on-disk cache: %s wall, %s CPU (medians of %d)", Millis(Median(loads)), Millis(Median(cpus)), len(loads))
	t.Logf("resident while compiled: +%s RSS (+%s of it Go heap); after closing the runtime: +%s",
		MB(Median(kept)), MB(Median(keptHeap)), MB(Median(closed)))
	perRun := Median(cpus)
	fmt.Printf("\nReloading before each run of a probe every 30 s costs %.2f %% of a core per probe, to save %s while no run is in progress.\n",
		100*perRun/30, MB(Median(kept)-Median(closed)))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
