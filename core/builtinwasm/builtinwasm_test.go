package builtinwasm

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestBundle checks what `make wasm` embedded: a module carrying the
// built-in probes. Without `make wasm` it checks the error instead, and
// under CI (which runs make test) that is a failure.
func TestBundle(t *testing.T) {
	wasm, err := Bundle()
	if errors.Is(err, ErrNotCompiled) {
		if err.Error() != "built-in WASM probes were not compiled in; build with make" {
			t.Errorf("error = %q", err)
		}
		if testenv.InCI() {
			t.Fatal("the bundle is not embedded: run make wasm before the tests")
		}
		t.Skip("the bundle is not embedded (make wasm)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("embedded bundle starts %q, not a WASM module", wasm[:min(8, len(wasm))])
	}
	ctx := context.Background()
	h, err := wasmhost.New(wasmhost.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	m, err := h.Load(ctx, Name, wasm)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, p := range m.Probes() {
		kinds[p.Name] = true
	}
	if !kinds["tmux"] {
		t.Errorf("the bundle carries %v, not tmux", m.Probes())
	}
}
