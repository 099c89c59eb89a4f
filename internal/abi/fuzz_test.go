package abi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
	"github.com/barbossa-agent/barbossa/sdk"
)

// The seed corpora are in testdata/fuzz (go test runs them, and so make
// test does); go test -fuzz=FuzzX ./internal/abi explores further.

// FuzzDecodeReport holds DecodeReport to an oracle built differently from
// it, out of encoding/json alone: it accepts exactly what decodes strictly
// as one value, is nested at most DefaultMaxDepth deep, has no top-level
// "error" key and validates; and an accepted report encodes and decodes
// again to itself.
func FuzzDecodeReport(f *testing.F) {
	for _, tc := range abitest.BadReports {
		f.Add([]byte(tc.Report))
	}
	f.Add([]byte(abitest.GoodReport))
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeReport(t, b, 0) })
}

// FuzzDecodeReportDepth is FuzzDecodeReport under any max_depth: the
// oracle's bound is the one the agent gives the probe (abi.ReportDepth).
func FuzzDecodeReportDepth(f *testing.F) {
	for _, n := range []int{-1, 0, 1, 3, 4, 5, 8, 100, 255, 256, 257, 1 << 30} {
		d := min(max(n, 0), 300)
		f.Add([]byte(abitest.Nested(d)), n)
		f.Add([]byte(abitest.Nested(max(d-4, 0))), n)
		f.Add([]byte(abitest.Nested(max(d-3, 0))), n)
	}
	f.Add([]byte(`{"status":"ok","metrics":[{"name":"x.y","labels":{"a":"b"},"value":1}]}`), 4)
	f.Add([]byte(`{"status":"ok","metrics":[{"name":"x.y","labels":{"a":"b"},"value":1}]}`), 3)
	f.Fuzz(checkDecodeReport)
}

// checkDecodeReport holds DecodeReport(b, maxDepth) to the oracle.
func checkDecodeReport(t *testing.T, b []byte, maxDepth int) {
	var got sdk.Report
	err := abi.DecodeReport(b, maxDepth, &got)
	var pe *abi.ProbeError
	bound := abi.ReportDepth(maxDepth)
	if bound < abi.MinMaxDepth || bound > abi.MaxMaxDepth || maxDepth == 0 && bound != abi.DefaultMaxDepth {
		t.Fatalf("max_depth %d is bound %d", maxDepth, bound)
	}
	switch {
	case err == nil:
		if d, ok := depth(b); !ok || d > bound {
			t.Fatalf("accepted %q at max_depth %d, nested %d levels (valid: %v)", b, maxDepth, d, ok)
		}
		again, _ := json.Marshal(got)
		var r sdk.Report
		if err := abi.DecodeReport(again, maxDepth, &r); err != nil {
			t.Fatalf("accepted %q, but not its own encoding %s: %v", b, again, err)
		}
		if third, _ := json.Marshal(r); !bytes.Equal(third, again) {
			t.Fatalf("%q decodes to %s, then to %s", b, again, third)
		}
	case errors.As(err, &pe):
		var e abi.ErrorResponse
		if !strictOne(b, &e) || e.Error == "" || e.Error != pe.Message {
			t.Fatalf("%q is a probe error %q, but not an error document", b, pe.Message)
		}
	default:
		if !errors.Is(err, abi.ErrInvalidReport) {
			t.Fatalf("%q: %v does not match ErrInvalidReport", b, err)
		}
		if oracleAccepts(b, bound) {
			t.Fatalf("refused %q at max_depth %d: %v", b, maxDepth, err)
		}
	}
}

// oracleAccepts is what DecodeReport should accept under a nesting bound.
func oracleAccepts(b []byte, bound int) bool {
	if len(b) > abi.MaxResult {
		return false
	}
	if d, ok := depth(b); !ok || d > bound {
		return false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) == nil {
		if _, ok := top["error"]; ok {
			return false
		}
	}
	var r sdk.Report
	return strictOne(b, &r) && r.Validate() == nil
}

// strictOne decodes b into v refusing unknown keys, and reports whether b
// held exactly one JSON value.
func strictOne(b []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil {
		return false
	}
	var more json.RawMessage
	return dec.Decode(&more) == io.EOF
}

// depth is how deep b's objects and arrays nest (a top-level object is 1);
// ok is false when b is not one JSON value.
func depth(b []byte) (int, bool) {
	var v any
	if !json.Valid(b) || json.Unmarshal(b, &v) != nil {
		return 0, false
	}
	var walk func(v any) int
	walk = func(v any) int {
		d := 0
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				d = max(d, walk(e))
			}
		case []any:
			for _, e := range v {
				d = max(d, walk(e))
			}
		default:
			return 0
		}
		return d + 1
	}
	return walk(v), true
}

// FuzzDecodeDescription: whatever is accepted names every probe, once.
func FuzzDecodeDescription(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		infos, err := abi.DecodeDescription[sdk.Info](b)
		if err != nil {
			return
		}
		if len(infos) == 0 {
			t.Fatalf("%q: accepted with no probe", b)
		}
		seen := map[string]bool{}
		for _, in := range infos {
			if in.Name == "" || seen[in.Name] {
				t.Fatalf("%q: accepted %+v", b, infos)
			}
			seen[in.Name] = true
		}
		again, err := abi.EncodeDescription(infos)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := abi.DecodeDescription[sdk.Info](again); err != nil || len(back) != len(infos) {
			t.Fatalf("%q: its own encoding %s: %v", b, again, err)
		}
	})
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

// FuzzDecodeBatch: an envelope the host accepts has a batch, and its own
// encoding is the same envelope.
func FuzzDecodeBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		env, ok := abi.DecodeBatch(b)
		if !ok {
			if len(env.Batch) != 0 || env.TimeoutMS != 0 {
				t.Fatalf("%q: not a batch, yet %+v", b, env)
			}
			return
		}
		if env.Batch == nil {
			t.Fatalf("%q: a batch without requests", b)
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		back, ok := abi.DecodeBatch(again)
		if !ok || len(back.Batch) != len(env.Batch) || back.TimeoutMS != env.TimeoutMS {
			t.Fatalf("%q: its own encoding %s decodes to %+v, %v", b, again, back, ok)
		}
	})
}

// FuzzPack: Pack and Unpack are inverses over every value.
func FuzzPack(f *testing.F) {
	f.Fuzz(func(t *testing.T, ptr, size uint32, packed uint64) {
		if p, s := abi.Unpack(abi.Pack(ptr, size)); p != ptr || s != size {
			t.Fatalf("Unpack(Pack(%d, %d)) = %d, %d", ptr, size, p, s)
		}
		if v := abi.Pack(abi.Unpack(packed)); v != packed {
			t.Fatalf("Pack(Unpack(%#x)) = %#x", packed, v)
		}
	})
}

// FuzzDecodeCollect: the guest decodes whatever a host may send, and a
// request it accepts encodes back to the same request.
func FuzzDecodeCollect(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := abi.DecodeCollect(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		back, err := abi.DecodeCollect(again)
		if err != nil || back.Probe != req.Probe || back.Kind != req.Kind || back.TimeoutMS != req.TimeoutMS || len(back.Config) != len(req.Config) {
			t.Fatalf("%q: %+v, then %+v, %v", b, req, back, err)
		}
	})
}
