package sdk

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "300ms": 300 * time.Millisecond,
		"1.5h": 90 * time.Minute, ".5s": 500 * time.Millisecond, "2µs": 2 * time.Microsecond, "3us": 3 * time.Microsecond,
		"7d": 7 * day, "1d12h": 36 * time.Hour, "2w": 14 * day, "1w2d3h": 9*day + 3*time.Hour, "12h1d": 36 * time.Hour,
		" 5m ": 5 * time.Minute, "106751d": 106751 * day,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                      "empty",
		"15 seconds":            "a space inside",
		"15seconds":             `unknown unit "seconds"`,
		"7":                     "a number with no unit",
		"d":                     "a unit with no number",
		"-1s":                   "negative",
		"+1s":                   "a sign",
		"106752d":               "longer than 106751d",
		"99999999999999999999s": "longer than",
		"1h 30m":                "a space inside",
	} {
		_, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
			continue
		}
		// Every refusal names what is wrong and the accepted forms.
		for _, part := range []string{why, "ns, us, ms, s, m, h, d (24h) and w (7d)", "like 30s"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("ParseDuration(%q) = %q: does not say %q", in, err, part)
			}
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{14 * day: "14d", 90 * time.Second: "1m30s", 36 * time.Hour: "36h0m0s", 0: "0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDurationJSONAndText(t *testing.T) {
	var c struct {
		A, B, C Duration
	}
	if err := json.Unmarshal([]byte(`{"A":"2w","B":1.5,"C":null}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.A.Duration != 14*day || c.B.Duration != 1500*time.Millisecond || c.C.Duration != 0 {
		t.Errorf("decoded %+v", c)
	}
	b, err := json.Marshal(c)
	if err != nil || string(b) != `{"A":"14d","B":"1.5s","C":"0s"}` {
		t.Errorf("encoded %s, %v", b, err)
	}
	for _, in := range []string{`"15 seconds"`, `-1`, `true`, `1e300`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s accepted as %v", in, d)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("15 seconds")); err == nil || !strings.Contains(err.Error(), "like 30s") {
		t.Errorf("UnmarshalText(15 seconds) = %v", err)
	}
}

// FuzzParseDuration: what it accepts is never negative, reads back the same
// when formatted, and agrees with time.ParseDuration wherever Go accepts an
// unsigned string.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "90s", "1h30m", "1.5h", "7d", "1d12h", "2w", "1w2d3h", "15 seconds", "-1s", "+1s",
		"106751d", "106752d", "9223372036854775807ns", "9223372036854775808ns", ".5s", "1.s", "2µs", "0.000000000001s", "1e3s", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil {
			if d < 0 {
				t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
			}
			back, err := ParseDuration(FormatDuration(d))
			if err != nil || back != d {
				t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, FormatDuration(d), back, err)
			}
		}
		if s == "" || s[0] == '+' || s[0] == '-' {
			return
		}
		if want, gerr := time.ParseDuration(s); gerr == nil {
			if err != nil || d != want {
				t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration says %v", s, d, err, want)
			}
		}
	})
}
