package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 8, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "now", want: now},
		{in: "-1h", want: now.Add(-time.Hour)},
		{in: "now-30m", want: now.Add(-30 * time.Minute)},
		{in: "+5m", want: now.Add(5 * time.Minute)},
		{in: "-7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "-1d12h", want: now.Add(-36 * time.Hour)},
		{in: "-2w", want: now.Add(-14 * 24 * time.Hour)},
		{in: "1754827200", want: time.Unix(1754827200, 0)},
		{in: "1754827200.5", want: time.Unix(1754827200, 5e8)},
		{in: "1754827200000", want: time.UnixMilli(1754827200000)},
		{in: "2025-08-10T11:00:00Z", want: now.Add(-time.Hour)},
		{in: "2025-08-10T13:00:00+02:00", want: now.Add(-time.Hour)},
		{in: "2025-08-10T11:00:00.250Z", want: now.Add(-time.Hour + 250*time.Millisecond)},
		{in: "", err: "empty"},
		{in: "abc", err: `cannot parse "abc"`},
		{in: "2025-08-10", err: "cannot parse"},
		{in: "-1x", err: "relative time"},
		{in: "-", err: "relative time"},
		{in: "-h", err: "relative time"},
		{in: "nowish", err: "cannot parse"},
		{in: "1e5", err: "cannot parse"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTime(tt.in, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseStep(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false}, {"auto", 0, false},
		{"30s", 30 * time.Second, false}, {"5m", 5 * time.Minute, false}, {"1d", 24 * time.Hour, false},
		{"60", time.Minute, false}, {"0.5", 500 * time.Millisecond, false},
		{"0", 0, true}, {"-1m", 0, true}, {"-5", 0, true}, {"fast", 0, true}, {"0s", 0, true}, {"1 m", 0, true},
		{"1.5d", 36 * time.Hour, false}, {"1w", 7 * 24 * time.Hour, false},
	}
	for _, tt := range tests {
		got, err := parseStep(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseStep(%q) = %v, %v; want %v, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestAutoStep(t *testing.T) {
	tests := []struct {
		rng, want time.Duration
	}{
		{time.Minute, time.Second},
		{time.Hour, 5 * time.Second},
		{6 * time.Hour, 30 * time.Second},
		{24 * time.Hour, 2 * time.Minute},
		{7 * 24 * time.Hour, 15 * time.Minute},
		{30 * 24 * time.Hour, time.Hour},
		{365 * 24 * time.Hour, 12 * time.Hour},
		{5 * 365 * 24 * time.Hour, 2 * 24 * time.Hour},
	}
	for _, tt := range tests {
		got := autoStep(tt.rng)
		if got != tt.want {
			t.Errorf("autoStep(%s) = %s, want %s", tt.rng, got, tt.want)
		}
		if tt.rng/got > targetPoints {
			t.Errorf("autoStep(%s) = %s gives %d points", tt.rng, got, tt.rng/got)
		}
	}
}

// TestParseSelector: the syntax is core/selector's (tested and fuzzed
// there); a probe matcher names the probe, apart from the labels.
func TestParseSelector(t *testing.T) {
	got, err := parseSelector(`d{mount="/", probe="system"}`)
	if err != nil || got.Name != "d" || len(got.Labels) != 1 || got.Labels["mount"] != "/" || got.Probe != "system" {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := parseSelector(`d{a=b}`); err == nil || !strings.Contains(err.Error(), "double quoted") {
		t.Fatalf("bad value: %v", err)
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false}, {"gzip", true}, {"GZIP", true}, {"deflate, gzip", true}, {"gzip;q=0", false},
		{"gzip; q=0.5", true}, {"br", false}, {"*", true}, {"*;q=0", false}, {"gzip;q=0, *", false},
		{"x-gzip", true}, {"identity", false}, {"gzip;q=abc", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.in); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNoneMatch(t *testing.T) {
	e := &encoded{etag: `"a-1-1"`, etagGz: `"a-1-1-gz"`}
	tests := []struct {
		in   string
		want bool
	}{
		{"", false}, {`"a-1-1"`, true}, {`"a-1-1-gz"`, true}, {`W/"a-1-1"`, true}, {`"x", "a-1-1"`, true},
		{"*", true}, {`"a-1-2"`, false}, {`a-1-1`, false},
	}
	for _, tt := range tests {
		if got := noneMatch(tt.in, e); got != tt.want {
			t.Errorf("noneMatch(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		in, tok string
		ok      bool
	}{
		{"Bearer abc", "abc", true}, {"bearer abc", "abc", true}, {"  Bearer   abc  ", "abc", true},
		{"Bearer", "", false}, {"Bearer ", "", false}, {"Basic abc", "", false}, {"", "", false}, {"abc", "", false},
	}
	for _, tt := range tests {
		tok, ok := bearer(tt.in)
		if tok != tt.tok || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v", tt.in, tok, ok)
		}
	}
}

// TestParamsOverflow: numbers past what a time or a duration holds are a
// clear 400 naming the parameter, never a wrapped value and a 500.
func TestParamsOverflow(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for _, tc := range []struct{ query, param, contains string }{
		{"step=9223372036854775807", "step", "longer than any range"},
		{"step=9223372037", "step", "longer than any range"},
		{"step=1e400", "step", "cannot parse"},
		{"step=106752d", "step", "longer than 106751d"},
		{"step=4294967295w", "step", "longer than 106751d"},
		{"step=106751d2562047h", "step", "longer than 106751d"},
		{"step=0.0000000001", "step", "below the finest step, 1ms"},
		{"step=1ns", "step", "below the finest step"},
		{"range=4294967295w", "range", "cannot parse"},
		{"range=106751d9999999h", "range", "cannot parse"},
		{"from=99999999999999999999", "from", "past the year 9999"},
		{"to=9223372036854775807000", "to", "past the year 9999"},
		{"from=now-4294967295w", "from", "relative time"},
	} {
		rec := get(t, h, "/api/v1/query?series=a&"+tc.query)
		wantStatus(t, rec, http.StatusBadRequest)
		var e errorJSON
		decode(t, rec, &e)
		if e.Param != tc.param || !strings.Contains(e.Error, tc.contains) {
			t.Errorf("%s: %+v, want param %s and %q", tc.query, e, tc.param, tc.contains)
		}
		rec = get(t, h, "/api/v1/export?"+tc.query)
		wantStatus(t, rec, http.StatusBadRequest)
	}
	// The largest step that fits is a step, not an error.
	rec := get(t, h, "/api/v1/query?series=a&step=106751d")
	wantStatus(t, rec, http.StatusOK)
}

// fuzzNow is the fuzz targets' fixed clock.
var fuzzNow = time.Date(2025, 8, 10, 12, 0, 0, 0, time.UTC)

var paramSeeds = []string{
	"", "now", "-1h", "now-30m", "+5m", "-7d", "-1d12h", "-2w", "1754827200", "1754827200.5", "1754827200000",
	"2025-08-10T11:00:00Z", "2025-08-10T13:00:00+02:00", "abc", "-", "-h", "nowish", "1e5", "auto", "30s", "0.5",
	"9223372036854775807", "99999999999999999999", "4294967295w", "106751d", "106752d", "106751d2562047h",
	"0.0000000001", "1ns", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "253402300799999", "253402300800000", "-0", "+-1h", "now+", ".", "1.", "0x10", "1_000", "\x00", "ä", "1d-1h", "1w1w",
}

func seedParams(f *testing.F) {
	for _, s := range paramSeeds {
		f.Add(s)
	}
}

func FuzzParseTime(f *testing.F) {
	seedParams(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, fuzzNow)
		if err != nil {
			return
		}
		if y := got.Year(); y < 0 || y > 9999 {
			t.Fatalf("parseTime(%q) = %s: out of the years 0..9999", s, got)
		}
	})
}

func FuzzParseStep(f *testing.F) {
	seedParams(f)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseStep(s)
		if err == nil && d != 0 && d < minStep {
			t.Fatalf("parseStep(%q) = %s: below %s", s, d, minStep)
		}
	})
}

// FuzzQueryParams feeds whole query strings to the query and events
// parsers: whatever they accept is a window the store can answer.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{"series=a", "series=a&from=-1h&step=1m", "series=a&range=7d", "series=a&step=9223372036854775807",
		"series=a&from=99999999999999999999", "series=a&range=4294967295w&to=-1h", "since=-1h&limit=10", "limit=99999999999999999999",
		"series=a&from=0&to=253402300799999", "series=a&from=now&to=-1h", "series=a&range=1h&from=-1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if p, err := parseQuery(q, fuzzNow); err == nil {
			if !p.From.Before(p.To) || p.Step < minStep || p.To.Sub(p.From)/p.Step > maxPoints || len(p.Selectors) == 0 || len(p.Selectors) > maxSelectors {
				t.Fatalf("parseQuery(%q) = %+v", raw, p)
			}
		}
		if _, limit, err := parseEventsQuery(q, fuzzNow); err == nil && (limit < 1 || limit > maxEventLimit) {
			t.Fatalf("parseEventsQuery(%q): limit %d", raw, limit)
		}
	})
}
