package wasmhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
)

// answering returns a WAT guest (no Go, no WASI: what a hostile author
// writes from docs/ABI.md) whose collect answers report, byte for byte.
func answering(t *testing.T, report string) []byte {
	t.Helper()
	src := abitest.WAT(`{"probes":[{"name":"answering"}]}`, report)
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found (apt-get install -y wabt)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "answering.wat"), filepath.Join(dir, "answering.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(wat2wasm, in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadReportsRefused sends abitest's hostile reports from a WAT guest:
// each is refused with abi's error, the same one core/pluginhost's test
// gets from a native plugin sending the same bytes.
func TestBadReportsRefused(t *testing.T) {
	h, _ := newHost(t)
	abitest.Refuses(t, `probe "hostile": barbossa_collect: `, func(t *testing.T, report string) error {
		m, err := h.Load(t.Context(), "answering", answering(t, report))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(t.Context()) })
		_, err = collect(t, newProbe(t, h, m, ProbeOptions{Name: "hostile"}), 10*time.Second)
		return err
	})
}

// TestReportDepth: a WAT guest's report nested past the probe's max_depth
// is refused, naming the limit, at a lowered and a raised max_depth; and
// SetMaxDepth applies from the next run.
func TestReportDepth(t *testing.T) {
	h, _ := newHost(t)
	probe := func(t *testing.T, maxDepth int, report string) *Probe {
		m, err := h.Load(t.Context(), "answering", answering(t, report))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(t.Context()) })
		return newProbe(t, h, m, ProbeOptions{Name: "hostile", MaxDepth: maxDepth})
	}
	abitest.LimitsDepth(t, `probe "hostile": barbossa_collect: `, func(t *testing.T, maxDepth int, report string) error {
		_, err := collect(t, probe(t, maxDepth, report), 10*time.Second)
		return err
	})
	p := probe(t, 0, abitest.Nested(40))
	if _, err := collect(t, p, 10*time.Second); err == nil {
		t.Fatal("a report nested 44 levels passed the default max_depth")
	}
	p.SetMaxDepth(44)
	if _, err := collect(t, p, 10*time.Second); err != nil {
		t.Errorf("after SetMaxDepth(44): %v", err)
	}
	p.SetMaxDepth(43)
	if _, err := collect(t, p, 10*time.Second); err == nil || !strings.Contains(err.Error(), "nested deeper than 43 levels") {
		t.Errorf("after SetMaxDepth(43): %v", err)
	}
}
