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
		{abitest.Nested(abi.MaxDepth - 3), "invalid report: nested deeper than 32 levels"},
		{`{"status":"ok","message":"` + strings.Repeat("x", abi.MaxResult) + `"}`, "invalid report: 16777244 bytes is over the limit of 16 MiB"},
	} {
		var r sdk.Report
		err := abi.DecodeReport([]byte(tc.in), &r)
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
		if err := abi.DecodeReport(b, &r); err != nil || len(r.Metrics)+len(r.Entities) == 0 {
			t.Errorf("%s: %v (%d metrics, %d entities)", f, err, len(r.Metrics), len(r.Entities))
		}
	}
}

func TestBadReports(t *testing.T) {
	for _, tc := range abitest.BadReports {
		var r sdk.Report
		err := abi.DecodeReport([]byte(tc.Report), &r)
		if !errors.Is(err, abi.ErrInvalidReport) || !strings.Contains(err.Error(), tc.Want) {
			t.Errorf("%s: %v, want %q", tc.Name, err, tc.Want)
		}
	}
}
