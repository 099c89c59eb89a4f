package abi_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
	"github.com/barbossa-agent/barbossa/sdk"
)

func TestDecodeReport(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"status":"warn","metrics":[{"name":"x.y","labels":{"a":"b"},"value":2}]}`, "warn 1 0"},
		{` {"metrics":null} ` + "\n", "ok 0 0"},
		{`{"entities":[{"kind":"k","id":"i","state":"error"}],"message":"error"}`, "ok 0 1"},
		{abitest.GoodReport, "ok 0 1"},
		{`{"error":"no server"}`, "probe error: no server"},
		{` { "error" : "no server" } `, "probe error: no server"},
		{`{"message":"x","error":"no server"}`, `invalid report: json: unknown field "message"; it starts "{\"message\":\"x\",\"error\":\"no server\"}"`},
		{`{"entities":[{"kind":"k"}]}`, "invalid report: entities[0]: kind and id are required"},
		{`{"metrics":[{"name":"","value":1}]}`, "invalid report: metrics[0]: empty name"},
		{`{"entities":[{"kind":"k","id":"i","health":"bad"}]}`, `invalid report: entities[0] (k i): health "bad" is not one of ok, warn, crit, unknown`},
		{``, "invalid report: EOF"},
		{`{"status":"ok"}x`, "invalid report: data after the JSON value"},
		{`{"status":"ok"`, "invalid report: unexpected EOF"},
		{abitest.Nested(abi.DefaultMaxDepth - 3), "invalid report: nested deeper than 32 levels (the probe's limits.max_depth)"},
		{`{"status":"ok","message":"` + strings.Repeat("x", abi.MaxResult) + `"}`, "invalid report: 16777244 bytes is over the limit of 16 MiB"},
	} {
		var r sdk.Report
		err := abi.DecodeReport([]byte(tc.in), 0, &r)
		var pe *abi.ProbeError
		got := ""
		switch {
		case errors.As(err, &pe):
			got = "probe error: " + pe.Message
		case err != nil:
			got = err.Error()
			if !errors.Is(err, abi.ErrInvalidReport) {
				t.Errorf("%.40s: %v does not match ErrInvalidReport", tc.in, err)
			}
		default:
			got = fmt.Sprint(r.Status, " ", len(r.Metrics), " ", len(r.Entities))
			if r.Metrics == nil || r.Entities == nil {
				got += " (nil slices)"
			}
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("DecodeReport(%.60s)\n got %.200s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestBuiltinReportsAccepted: the limits leave room for what the built-in
// probes really report (their golden reports).
func TestBuiltinReportsAccepted(t *testing.T) {
	files, _ := filepath.Glob("../../plugins/*/testdata/report.golden.json")
	if len(files) < 3 {
		t.Fatalf("golden reports: %q", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r sdk.Report
		if err := abi.DecodeReport(b, 0, &r); err != nil || len(r.Metrics)+len(r.Entities) == 0 {
			t.Errorf("%s: %v (%d metrics, %d entities)", f, err, len(r.Metrics), len(r.Entities))
		}
	}
}

func TestBadReports(t *testing.T) {
	for _, tc := range abitest.BadReports {
		var r sdk.Report
		err := abi.DecodeReport([]byte(tc.Report), 0, &r)
		if !errors.Is(err, abi.ErrInvalidReport) || !strings.Contains(err.Error(), tc.Want) {
			t.Errorf("%s: %v, want %q", tc.Name, err, tc.Want)
		}
	}
}

// A probe's max_depth moves the bound: a report nested exactly max_depth
// levels passes and one level more is refused, naming the limit and its
// key; a bound outside MinMaxDepth..MaxMaxDepth is clamped, and the least
// still takes a report whose labels and attrs hold plain values.
func TestDecodeReportMaxDepth(t *testing.T) {
	plain := `{"status":"ok","metrics":[{"name":"x.y","labels":{"a":"b"},"value":1}],"entities":[{"kind":"k","id":"i","attrs":{"a":1}}]}`
	for _, tc := range []struct {
		maxDepth, bound int
	}{{0, 32}, {4, 4}, {5, 5}, {8, 8}, {100, 100}, {256, 256}, {1, 4}, {-7, 4}, {257, 256}, {1 << 40, 256}} {
		if got := abi.ReportDepth(tc.maxDepth); got != tc.bound {
			t.Errorf("ReportDepth(%d) = %d, want %d", tc.maxDepth, got, tc.bound)
		}
		var r sdk.Report
		if err := abi.DecodeReport([]byte(plain), tc.maxDepth, &r); err != nil {
			t.Errorf("max_depth %d: the plain report: %v", tc.maxDepth, err)
		}
		if err := abi.DecodeReport([]byte(abitest.Nested(tc.bound-4)), tc.maxDepth, &r); err != nil {
			t.Errorf("max_depth %d: nested %d levels: %v", tc.maxDepth, tc.bound, err)
		}
		err := abi.DecodeReport([]byte(abitest.Nested(tc.bound-3)), tc.maxDepth, &r)
		want := fmt.Sprintf("invalid report: nested deeper than %d levels (the probe's limits.max_depth); it starts ", tc.bound)
		if !errors.Is(err, abi.ErrInvalidReport) || err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("max_depth %d: nested %d levels: %v, want %q", tc.maxDepth, tc.bound+1, err, want)
		}
	}
}
