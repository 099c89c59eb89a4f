package portal

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	series "github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/sdk"
)

// paramError is a bad query parameter. It becomes a 400 whose JSON body
// names the parameter, so a client can point at the field it got wrong.
type paramError struct {
	Param string
	Err   error
}

func (e *paramError) Error() string { return e.Param + ": " + e.Err.Error() }
func (e *paramError) Unwrap() error { return e.Err }

func badParam(param string, format string, args ...any) error {
	return &paramError{Param: param, Err: fmt.Errorf(format, args...)}
}

// unixMillisCutoff separates unix seconds from unix milliseconds: a number
// this large as seconds would be in the year 33658, so it must be millis.
const unixMillisCutoff = 1e11

// maxUnixMillis is the end of year 9999, the last RFC 3339 can write: a
// larger number is no time anyone means, and past 2^63 it would not even
// convert to one.
const maxUnixMillis = 253402300799999

// maxDuration is the longest duration there is (~292 years, 106751d):
// longer ones overflow and are refused.
const maxDuration = time.Duration(math.MaxInt64)

// parseTime reads a point in time as RFC 3339 ("2025-08-10T12:00:00Z"),
// unix seconds ("1754827200", fractions allowed; numbers above 1e11 are
// taken as unix milliseconds), "now", or a duration relative to now
// ("-1h", "-30m", "-7d", "now-2h", "+5m").
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if s == "now" {
		return now, nil
	}
	rel := strings.TrimPrefix(s, "now")
	if rel[0] == '-' || rel[0] == '+' {
		d, err := sdk.ParseDuration(rel[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse %q as a relative time like -1h: %w", s, err)
		}
		if rel[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if isNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return time.Time{}, fmt.Errorf("cannot parse %q as unix seconds", s)
		}
		if f >= unixMillisCutoff {
			if f > maxUnixMillis {
				return time.Time{}, fmt.Errorf("%q is past the year 9999 as unix milliseconds", s)
			}
			return time.UnixMilli(int64(f)), nil
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %q: want RFC 3339, unix seconds, now, or a relative time like -1h", s)
	}
	return t, nil
}

// isNumber reports whether s looks like a plain decimal number, so
// "2025-08-10" (which has dashes after digits) goes to the RFC 3339 parser.
func isNumber(s string) bool {
	dot := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return s != "" && s != "."
}

// minStep is the finest step: the store keeps time in milliseconds.
const minStep = time.Millisecond

// parseStep reads a query step: empty or "auto" (returns 0, meaning choose
// one), a duration ("30s", "5m", "1d") or a plain number of seconds, from
// 1ms to the longest duration (106751d).
func parseStep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "auto" {
		return 0, nil
	}
	var d time.Duration
	if isNumber(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return 0, fmt.Errorf("cannot parse %q: want a positive number of seconds or a duration like 1m", s)
		}
		ns := f * float64(time.Second)
		if ns >= 1<<63 { // past 2^63 ns the conversion to a Duration is undefined
			return 0, fmt.Errorf("%q seconds is longer than any range (at most %d)", s, int64(maxDuration.Seconds()))
		}
		d = time.Duration(ns)
	} else {
		var err error
		if d, err = sdk.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("cannot parse %q: %w", s, err)
		}
	}
	if d < minStep {
		return 0, fmt.Errorf("%q is below the finest step, %s", s, minStep)
	}
	return d, nil
}

// maxPoints bounds one series in one query response: a client asking for a
// year at 1s steps gets a 400 telling it to use a larger step.
const (
	targetPoints = 1000
	maxPoints    = 11000
)

// niceSteps are the steps auto-selection picks from, so buckets line up
// with clock boundaries and with the store's minute and hour rollups.
var niceSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// autoStep picks the smallest nice step that keeps a range at or below
// targetPoints points.
func autoStep(rng time.Duration) time.Duration {
	for _, s := range niceSteps {
		if rng/s <= targetPoints {
			return s
		}
	}
	day := 24 * time.Hour
	n := (rng/targetPoints + day - 1) / day
	return n * day
}

// selector is one parsed `series` parameter: a metric name and label
// filters, written the way Prometheus users expect: NAME{k="v",k2="v2"},
// and the probe a probe="..." matcher names ("": every probe).
type selector struct {
	Name   string
	Probe  string
	Labels map[string]string
}

// parseSelector parses NAME or NAME{label="value",...} with core/selector,
// the one parser of the syntax (alert rules use it too).
func parseSelector(s string) (selector, error) {
	sel, err := series.Parse(s)
	if err != nil {
		return selector{}, err
	}
	return selector{Name: sel.Name, Probe: sel.Probe, Labels: sel.Labels}, nil
}
