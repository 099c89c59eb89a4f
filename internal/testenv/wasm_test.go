package testenv

import (
	"bytes"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
)

// TestWASMHelpers builds core/wasmhost's Go test guest, loads it and runs
// it once through the helpers the probes' integration tests use.
func TestWASMHelpers(t *testing.T) {
	wasm := BuildWASM(t, "../../core/wasmhost/testdata/goguest")
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("built %q..., not a WASM module", wasm[:min(8, len(wasm))])
	}
	host, mod := LoadWASM(t, "goguest", wasm)
	if got := mod.Probes(); len(got) != 2 || got[0].Name != "goguest" || got[1].Name != "echo" {
		t.Fatalf("describe = %+v", got)
	}
	p := NewWASMProbe(t, host, mod, wasmhost.ProbeOptions{Name: "g", Kind: "goguest"})
	r := Collect(t, p, 20*time.Second)
	if r.Status != "ok" || len(r.Metrics) != 2 || r.Metrics[1].Name != "goguest.has_deadline" || r.Metrics[1].Value != 1 {
		t.Errorf("report = %+v", r)
	}
}
