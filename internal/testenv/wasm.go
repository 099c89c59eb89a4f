package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/internal/wasmdata"
	"github.com/barbossa-agent/barbossa/sdk"
)

// BuildWASM builds the Go probe package pkg (as go build names it, relative
// to the test's package: "./cmd") into a WASM module, as `make wasm` does,
// and returns the module's bytes. The module is never committed: tests
// build it from the source they test.
func BuildWASM(t testing.TB, pkg string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "probe.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s as WASM: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// As make builds the shipped modules: tests and benchmarks measure what
	// the agent runs, not a module with Go's ~40,000 data segments.
	merged, err := wasmdata.Merge(b, wasmdata.DefaultGap)
	if err != nil {
		t.Fatalf("merge the data segments of %s: %v", pkg, err)
	}
	return merged
}

// WAT assembles WebAssembly text into a module with wat2wasm (Debian:
// wabt; missing, a skip, or a failure under CI), for hand-written guests:
// the ABI without Go, and hostile guests written as an attacker would.
func WAT(t testing.TB, src string) []byte {
	t.Helper()
	wat2wasm := Program(t, "wat2wasm", "wabt")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "guest.wat"), filepath.Join(dir, "guest.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wat2wasm, in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s\n%s", err, b, src)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LoadWASM loads module wasm as name into a new WASM host with a private
// compilation cache, as the agent would. The host is closed when the test
// ends.
func LoadWASM(t testing.TB, name string, wasm []byte) (*wasmhost.Host, *wasmhost.Module) {
	t.Helper()
	ctx := context.Background()
	host, err := wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(t.TempDir(), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close(ctx) })
	mod, err := host.Load(ctx, name, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return host, mod
}

// NewWASMProbe makes a probe of mod with options o; it is closed when the
// test ends.
func NewWASMProbe(t testing.TB, host *wasmhost.Host, mod *wasmhost.Module, o wasmhost.ProbeOptions) *wasmhost.Probe {
	t.Helper()
	p, err := host.NewProbe(mod, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Collect runs p once with an empty request within timeout; an error ends
// the test.
func Collect(t testing.TB, p sdk.Probe, timeout time.Duration) sdk.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := p.Collect(ctx, sdk.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
