package sdk

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time as people write it in a probe's config, the
// agent's config and the API's query parameters: Go's syntax ("300ms",
// "1.5h", "2h45m") plus d for 24 hours and w for 7 days ("7d", "1d12h",
// "2w"). It lives here, in the one package every probe imports, so that
// every config of the project reads durations by the same rule.
//
// In JSON (a probe's config) it is such a string or a number of seconds;
// in TOML and text, only the string.
type Duration struct{ time.Duration }

// durationForms names what ParseDuration accepts, for its errors.
const durationForms = "write a number and a unit with no space, the units ns, us, ms, s, m, h, d (24h) and w (7d), like 30s, 1h30m, 7d or 2w"

// tooLong is past what a time.Duration holds (math.MaxInt64 ns).
const tooLong = "longer than 106751d"

const (
	day  = 24 * time.Hour
	week = 7 * day
)

var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5, as Go writes it
	"μs": uint64(time.Microsecond), // U+03BC
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(day),
	"w":  uint64(week),
}

// ParseDuration reads a Duration's text: one or more numbers, each with its
// unit ("1w2d", "1.5h", "90s"), or "0". Spaces around it are ignored; a
// sign, a space inside or a missing unit is an error that says what is
// accepted, and so is anything longer than time.Duration holds (~292 years).
// Where Go's time.ParseDuration accepts a string without a sign, this
// returns the same value.
func ParseDuration(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("bad duration %q: %s; %s", in, why, durationForms)
	}
	switch {
	case s == "":
		return bad("empty")
	case s == "0":
		return 0, nil
	case s[0] == '-':
		return bad("negative")
	case s[0] == '+':
		return bad("a sign")
	case strings.ContainsAny(s, " \t\r\n"):
		return bad("a space inside")
	}
	var total uint64
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		whole := s[:i]
		s = s[i:]
		frac := ""
		if s != "" && s[0] == '.' {
			j := 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			frac, s = s[1:j], s[j:]
		}
		if whole == "" && frac == "" {
			return bad("a unit with no number before it")
		}
		j := 0
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		mult, ok := durationUnits[unit]
		switch {
		case unit == "":
			return bad("a number with no unit")
		case !ok:
			return bad(fmt.Sprintf("unknown unit %q", unit))
		}
		n, err := strconv.ParseUint(whole, 10, 64)
		if whole == "" {
			n, err = 0, nil
		}
		if err != nil || n > math.MaxInt64/mult {
			return bad(tooLong)
		}
		v := n * mult
		if frac != "" {
			// As time.ParseDuration does: digits past 18 add nothing a
			// nanosecond can hold.
			var f, scale uint64 = 0, 1
			for _, c := range frac[:min(len(frac), 18)] {
				f, scale = f*10+uint64(c-'0'), scale*10
			}
			v += uint64(float64(f) * (float64(mult) / float64(scale)))
		}
		if v > math.MaxInt64-total {
			return bad(tooLong)
		}
		total += v
	}
	return time.Duration(total), nil
}

// FormatDuration writes d so that ParseDuration reads it back: whole days
// as "7d", anything else in Go's syntax ("1m30s").
func FormatDuration(d time.Duration) string {
	if d >= day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// String is FormatDuration.
func (d Duration) String() string { return FormatDuration(d.Duration) }

// UnmarshalText implements encoding.TextUnmarshaler (TOML).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(d.Duration)), nil }

// UnmarshalJSON accepts a string ParseDuration reads or a number of
// seconds ("5s" or 5).
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json leaves other values alone
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("bad duration %s: %w", b, err)
		}
		return d.UnmarshalText([]byte(s))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New(`bad duration: want a string like "5s" or a number of seconds, got ` + string(b))
	}
	if f < 0 || f*float64(time.Second) >= math.MaxInt64 {
		return fmt.Errorf("bad duration: %s seconds is negative or %s", b, tooLong)
	}
	d.Duration = time.Duration(f * float64(time.Second))
	return nil
}
