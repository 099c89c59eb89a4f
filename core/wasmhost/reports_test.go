package wasmhost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
)

// answering returns a WAT guest (no Go, no WASI: what a hostile author
// writes from docs/ABI.md) whose collect answers report, byte for byte.
func answering(t *testing.T, report string) []byte {
	t.Helper()
	const at = 1024 // where the report lives in memory
	top := (at + len(report) + 7) &^ 7
	var data strings.Builder
	for _, c := range []byte(report) {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			data.WriteByte(c)
		} else {
			fmt.Fprintf(&data, `\%02x`, c)
		}
	}
	desc := `{\"probes\":[{\"name\":\"answering\"}]}`
	src := fmt.Sprintf(`(module
  (memory (export "memory") %d)
  (global $top (mut i32) (i32.const %d))
  (global $last (mut i32) (i32.const -1))
  (data (i32.const 16) "%s")
  (data (i32.const %d) "%s")
  (func (export "barbossa_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "barbossa_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $top))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (global.set $top (local.get $end))
    (global.set $last (local.get $p))
    (local.get $p))
  (func $free (export "barbossa_free") (param $p i32)
    (if (i32.eq (local.get $p) (global.get $last))
      (then (global.set $top (local.get $p)) (global.set $last (i32.const -1)))))
  (func (export "barbossa_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const %d)))
  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (call $free (local.get $ptr))
    (i64.or (i64.shl (i64.const %d) (i64.const 32)) (i64.const %d)))
)
`, top/65536+1, top, desc, at, data.String(), len(strings.ReplaceAll(desc, `\`, "")), at, len(report))
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
	run := func(t *testing.T, report string) error {
		m, err := h.Load(t.Context(), "answering", answering(t, report))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(t.Context()) })
		_, err = collect(t, newProbe(t, h, m, ProbeOptions{Name: "hostile"}), 10*time.Second)
		return err
	}
	if err := run(t, abitest.GoodReport); err != nil {
		t.Fatalf("the good report: %v", err)
	}
	for _, tc := range abitest.BadReports {
		t.Run(tc.Name, func(t *testing.T) {
			err := run(t, tc.Report)
			if !errors.Is(err, abi.ErrInvalidReport) || !strings.Contains(err.Error(), tc.Want) ||
				!strings.HasPrefix(err.Error(), `probe "hostile": barbossa_collect: invalid report: `) {
				t.Errorf("%v\nwant %q", err, tc.Want)
			}
		})
	}
}
