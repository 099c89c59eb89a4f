package wasmdata

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// BenchmarkFreshRun is what merging saves each run of a built-in probe in
// a fresh instance (the default): the bundle as Go's linker writes it and
// merged, run in turn in one host (the tmux probe, denied its exec: the
// run is instantiation, the guest runtime's start and one refused call).
//
//	go test ./internal/wasmdata -run '^$' -bench FreshRun -count 5
func BenchmarkFreshRun(b *testing.B) {
	out := filepath.Join(b.TempDir(), "bundle.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./plugins/bundle")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the bundle: %v\n%s", err, msg)
	}
	linked, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	merged, err := Merge(linked, DefaultGap)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler) // every run logs its refused call
	// A cache that outlives the benchmark: a cold compile of each takes
	// tens of seconds.
	h, err := wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(os.TempDir(), "barbossa-wasmdata-bench"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	run := func(wasm []byte) func() error {
		m, err := h.Load(ctx, "bundle", wasm)
		if err != nil {
			b.Fatal(err)
		}
		p, err := h.NewProbe(m, wasmhost.ProbeOptions{Name: "tmux", Kind: "tmux", MaxMemory: 32 << 20, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		return func() error {
			_, err := p.Collect(ctx, sdk.Request{Probe: "tmux"})
			if err != nil && !strings.Contains(err.Error(), "is not granted") {
				return err
			}
			return nil
		}
	}
	sdktest.SideBySide(b, "linked", run(linked), "merged", run(merged))
	b.ReportMetric(float64(dataCount(b, linked)), "segments-linked")
	b.ReportMetric(float64(dataCount(b, merged)), "segments-merged")
}
