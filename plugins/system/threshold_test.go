package system

import (
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

func TestLevel(t *testing.T) {
	tests := []struct {
		v, warn, crit float64
		want          sdk.Status
	}{
		{50, 90, 95, sdk.StatusOK},
		{89.99, 90, 95, sdk.StatusOK},
		{90, 90, 95, sdk.StatusWarn},
		{94.9, 90, 95, sdk.StatusWarn},
		{95, 90, 95, sdk.StatusCrit},
		{100, 90, 95, sdk.StatusCrit},
		{100, 0, 95, sdk.StatusCrit}, // warn off
		{92, 0, 95, sdk.StatusOK},    // warn off
		{100, 90, 0, sdk.StatusWarn}, // crit off
		{100, 0, 0, sdk.StatusOK},    // both off
		{0, 0, 0, sdk.StatusOK},      // a zero value with thresholds off
		{3, 2, 4, sdk.StatusWarn},    // load per cpu
		{4.5, 2, 4, sdk.StatusCrit},  // load per cpu
	}
	for _, tt := range tests {
		if got := level(tt.v, tt.warn, tt.crit); got != tt.want {
			t.Errorf("level(%v, warn %v, crit %v) = %s, want %s", tt.v, tt.warn, tt.crit, got, tt.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	var fs []finding
	fs = appendFinding(fs, "memory used", 50, 90, 95, "%")
	if len(fs) != 0 {
		t.Fatalf("a value under both thresholds made a finding: %+v", fs)
	}
	tests := []struct {
		name       string
		findings   []finding
		errs       []sectionError
		wantStatus sdk.Status
		wantMsg    string
	}{
		{"all well", nil, nil, sdk.StatusOK, ""},
		{
			"worst first, then in order found",
			appendFinding(appendFinding(appendFinding(nil,
				"memory used", 91.04, 90, 95, "%"),
				"disk / used", 97.25, 85, 95, "%"),
				"load1 per cpu", 2.5, 2, 4, ""),
			nil, sdk.StatusCrit,
			"disk / used 97.2% >= crit 95%; memory used 91.0% >= warn 90%; load1 per cpu 2.5 >= warn 2",
		},
		{
			"a failed section is unknown",
			appendFinding(nil, "memory used", 91, 90, 95, "%"),
			[]sectionError{{Section: "swap", Err: "open /proc/swaps: no such file or directory"}},
			sdk.StatusUnknown,
			"memory used 91.0% >= warn 90%; cannot read swap: open /proc/swaps: no such file or directory",
		},
		{
			"crit outranks unknown",
			appendFinding(nil, "disk /data used", 99, 85, 95, "%"),
			[]sectionError{{Section: "diskio", Err: "boom"}},
			sdk.StatusCrit,
			"disk /data used 99.0% >= crit 95%; cannot read diskio: boom",
		},
		{
			"fractional threshold printed as written",
			appendFinding(nil, "load1 per cpu", 1.75, 1.5, 0, ""),
			nil, sdk.StatusWarn,
			"load1 per cpu 1.8 >= warn 1.5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := verdict(tt.findings, tt.errs)
			if status != tt.wantStatus || msg != tt.wantMsg {
				t.Errorf("verdict = %s, %q\nwant      %s, %q", status, msg, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}
