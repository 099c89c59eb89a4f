package pluginhost

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Figures for docs/PERFORMANCE.md:
//
//	go test -run '^$' -bench . -count 5 ./core/pluginhost

// BenchmarkStart: start the process, go-plugin's handshake, the host
// functions' broker connection and Describe.
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		pr, _ := newProbe(b, Options{})
		if _, err := pr.Describe(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		pr.Close()
		b.StartTimer()
	}
}

// BenchmarkStop: Close of a running plugin, until it is reaped.
func BenchmarkStop(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		pr, _ := newProbe(b, Options{})
		if _, err := pr.Describe(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		pr.Close()
	}
}

// BenchmarkCollect: one Collect round trip to a running plugin.
func BenchmarkCollect(b *testing.B) {
	pr, _ := newProbe(b, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	req := sdk.Request{}
	if _, err := pr.Collect(ctx, req); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := pr.Collect(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectHostCall: a Collect whose probe makes one host call
// (read_file of a small file) back to the agent over the broker.
func BenchmarkCollectHostCall(b *testing.B) {
	pr, _ := newProbe(b, Options{Grants: hostfuncs.Grants{Read: []string{"/proc"}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	req := sdk.Request{Config: map[string]any{"read": "/proc/loadavg"}}
	for b.Loop() {
		r, err := pr.Collect(ctx, req)
		if err != nil || gauge(r, "test.read_bytes") <= 0 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkRSS reports the resident memory of one plugin process (the
// minimal test plugin) after 100 collects; the time per op is meaningless.
func BenchmarkRSS(b *testing.B) {
	pr, _ := newProbe(b, Options{})
	ctx := context.Background()
	for range 100 {
		if _, err := pr.Collect(ctx, sdk.Request{}); err != nil {
			b.Fatal(err)
		}
	}
	kib, err := vmRSS(pr.PID())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(kib)/1024, "plugin-RSS-MiB")
}

// vmRSS reads VmRSS (KiB) from /proc/PID/status.
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
