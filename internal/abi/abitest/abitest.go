// Package abitest holds the hostile collect answers that every runtime's
// tests send through a real probe (a WASM guest, a native plugin), so both
// runtimes are held to the same refusals with the same errors.
package abitest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// BadReport is a collect answer every runtime must refuse; Want is in the
// error, which matches abi.ErrInvalidReport.
type BadReport struct {
	Name   string
	Report string
	Want   string
}

// Nested returns a report whose one entity has an attribute nested depth
// arrays deep, around a 0: the report is nested depth+4 levels.
func Nested(depth int) string {
	return `{"status":"ok","entities":[{"kind":"k","id":"i","attrs":{"a":` +
		strings.Repeat("[", depth) + "0" + strings.Repeat("]", depth) + `}}]}`
}

// BadReports are the answers refused alike by every runtime.
var BadReports = []BadReport{
	{"misspelt key", `{"status":"ok","metrcs":[{"name":"x.y","value":1}]}`, `invalid report: json: unknown field "metrcs"`},
	{"misspelt nested key", `{"metrics":[{"name":"x.y","valu":1}]}`, `invalid report: json: unknown field "valu"`},
	{"trailing data", `{"status":"ok"} {"status":"crit"}`, "invalid report: data after the JSON value"},
	{"nested 9000 levels", Nested(9000), fmt.Sprintf("invalid report: nested deeper than %d levels (the probe's limits.max_depth)", abi.DefaultMaxDepth)},
	{"error beside a report", `{"error":"x","status":"ok"}`, `invalid report: json: unknown field "status"`},
	{"empty error", `{"error":""}`, "invalid report: an empty error"},
	{"bad status", `{"status":"fine"}`, `invalid report: status "fine" is not one of ok, warn, crit, unknown`},
	{"not JSON", `this is not a report`, "invalid report: invalid character 'h' in literal true"},
	{"an array", `[{"status":"ok"}]`, "invalid report: json: cannot unmarshal array"},
}

// GoodReport is accepted by every runtime: the control that shows a
// refusal comes from the report, not from how it was sent. Its attrs are
// nested abi.DefaultMaxDepth levels, the most allowed by default.
var GoodReport = Nested(abi.DefaultMaxDepth - 4)

// Refuses runs a probe through a runtime for each report, with send
// (which makes the probe answer the report and returns its run's error):
// GoodReport must pass, and each of BadReports fail with an error that
// matches abi.ErrInvalidReport, starts with prefix (the runtime's words for
// the probe) followed by "invalid report: ", and contains its Want.
func Refuses(t *testing.T, prefix string, send func(t *testing.T, report string) error) {
	t.Helper()
	if err := send(t, GoodReport); err != nil {
		t.Fatalf("the good report: %v", err)
	}
	for _, tc := range BadReports {
		t.Run(tc.Name, func(t *testing.T) {
			err := send(t, tc.Report)
			if !errors.Is(err, abi.ErrInvalidReport) || !strings.HasPrefix(err.Error(), prefix+"invalid report: ") || !strings.Contains(err.Error(), tc.Want) {
				t.Errorf("%v\nwant %q after %q", err, tc.Want, prefix)
			}
		})
	}
}

// LimitsDepth runs a probe through a runtime at a lowered and at a raised
// max_depth, with send (which makes a probe of that max_depth answer the
// report and returns its run's error): at each, a report nested exactly
// max_depth levels passes and one nested a level deeper is refused with an
// error that matches abi.ErrInvalidReport, starts with prefix and names
// the bound and its key. The raised bound passes a report the default
// refuses; the lowered one refuses one the default passes.
func LimitsDepth(t *testing.T, prefix string, send func(t *testing.T, maxDepth int, report string) error) {
	t.Helper()
	for _, maxDepth := range []int{8, 3 * abi.DefaultMaxDepth} {
		t.Run(fmt.Sprintf("max_depth=%d", maxDepth), func(t *testing.T) {
			if err := send(t, maxDepth, Nested(maxDepth-4)); err != nil {
				t.Errorf("nested %d levels: %v", maxDepth, err)
			}
			err := send(t, maxDepth, Nested(maxDepth-3))
			want := fmt.Sprintf("%sinvalid report: nested deeper than %d levels (the probe's %s)", prefix, maxDepth, abi.MaxDepthKey)
			if !errors.Is(err, abi.ErrInvalidReport) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("nested %d levels: %v\nwant %q", maxDepth+1, err, want)
			}
		})
	}
}

// WAT returns the source of a WASM probe in WebAssembly text, written from
// docs/ABI.md with no Go and no WASI (as a hostile author would), whose
// barbossa_describe answers describe and whose barbossa_collect answers
// report, byte for byte. wat2wasm turns it into a module.
func WAT(describe, report string) string {
	const at = 1024 // where the report lives; describe is at 16
	if len(describe) > at-16 {
		panic("abitest.WAT: describe is over 1008 bytes")
	}
	top := (at + len(report) + 7) &^ 7 // the allocator's heap starts after it
	return fmt.Sprintf(`(module
  (memory (export "memory") %d)
  (global $top (mut i32) (i32.const %d))
  (global $last (mut i32) (i32.const -1))
  (data (i32.const 16) "%s")
  (data (i32.const %d) "%s")
  (func (export "barbossa_abi_version") (result i32) (i32.const %d))
  ;; a bump allocator that can undo its last allocation
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
  ;; the request is ours: free it, and answer the report
  (func (export "barbossa_collect") (param $ptr i32) (param $len i32) (result i64)
    (call $free (local.get $ptr))
    (i64.or (i64.shl (i64.const %d) (i64.const 32)) (i64.const %d)))
)
`, top/65536+1, top, watString(describe), at, watString(report), abi.Version, len(describe), at, len(report))
}

// watString escapes s for a WAT string literal.
func watString(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\%02x`, c)
		}
	}
	return b.String()
}
