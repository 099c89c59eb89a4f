package sdktest

import (
	"testing"
	"time"
)

// SideBySide runs two ways of doing the same work alternately, b.N times
// each, so both see the same machine (shared, noisy), and reports each
// one's wall and CPU milliseconds per run and the ratios first/second: the
// figure docs/PERFORMANCE.md quotes for a WASM probe beside its native
// twin. CPU is this process's (the host and any WASM guest it runs).
//
//	sdktest.SideBySide(b, "wasm", runWASM, "native", runNative)
func SideBySide(b *testing.B, firstName string, first func() error, secondName string, second func() error) {
	b.Helper()
	var wall, cpu [2]time.Duration
	runs := [2]func() error{first, second}
	for b.Loop() {
		for i, run := range runs {
			w0, c0 := time.Now(), CPUTime()
			if err := run(); err != nil {
				b.Fatal(err)
			}
			wall[i] += time.Since(w0)
			cpu[i] += CPUTime() - c0
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(wall[0]), firstName+"-ms/run")
	b.ReportMetric(ms(wall[1]), secondName+"-ms/run")
	b.ReportMetric(ms(cpu[0]), firstName+"-cpu-ms/run")
	b.ReportMetric(ms(cpu[1]), secondName+"-cpu-ms/run")
	if wall[1] > 0 {
		b.ReportMetric(float64(wall[0])/float64(wall[1]), "wall-ratio")
	}
	if cpu[1] > 0 {
		b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-ratio")
	}
}

// PerRun runs run b.N times and reports its wall and CPU milliseconds per
// run (ms/run, cpu-ms/run): the figures docs/PERFORMANCE.md quotes for one
// way of collecting. CPU is this process's, as in SideBySide.
func PerRun(b *testing.B, run func() error) {
	b.Helper()
	cpu0 := CPUTime()
	for b.Loop() {
		if err := run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/run")
	b.ReportMetric(float64((CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/run")
}
