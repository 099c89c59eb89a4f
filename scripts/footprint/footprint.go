// Package footprint measures what a running agent costs the host it
// watches: resident memory, peak memory, idle CPU, status endpoint
// throughput and start-up time, read from outside the agent's process
// (/proc/PID, its HTTP API, wrk). `make footprint` (scripts/footprint.sh)
// runs the measurement, TestFootprint in measure_test.go (build tag
// footprint), and prints the table docs/PERFORMANCE.md quotes.
//
// This file is the pure part: reading /proc (with prometheus/procfs),
// parsing wrk's output, medians and the table. It has no build tag, so its
// tests run with `make test`.
package footprint

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// ClockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const ClockTick = 10 * time.Millisecond

// Proc is one reading of a process's resource use.
type Proc struct {
	CPU     time.Duration // user + system time since the process started
	RSS     int64         // VmRSS, bytes
	Peak    int64         // VmHWM: the highest RSS so far, bytes
	RSSAnon int64         // RssAnon: heap, stacks, mapped code, bytes
	RSSFile int64         // RssFile: pages of the binary and other files, bytes
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (Proc, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return Proc{}, err
	}
	stat, err := p.Stat()
	if err != nil {
		return Proc{}, err
	}
	status, err := p.NewStatus()
	if err != nil {
		return Proc{}, err
	}
	return Proc{
		CPU:     time.Duration(stat.UTime+stat.STime) * ClockTick,
		RSS:     int64(status.VmRSS),
		Peak:    int64(status.VmHWM),
		RSSAnon: int64(status.RssAnon),
		RSSFile: int64(status.RssFile),
	}, nil
}

// Load is what wrk measured against one URL.
type Load struct {
	RPS float64
	P99 time.Duration
}

// ParseWrk reads the requests per second and the 99th percentile latency
// from the output of `wrk --latency`. Socket errors or non-2xx responses
// make it an error: a rate of failures is no throughput.
func ParseWrk(out string) (Load, error) {
	var l Load
	var haveRPS, haveP99 bool
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || !(v >= 0 && v < 1e12) {
				return Load{}, fmt.Errorf("wrk: Requests/sec: bad rate %q", f[1])
			}
			l.RPS, haveRPS = v, true
		case len(f) == 2 && f[0] == "99%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return Load{}, fmt.Errorf("wrk: 99%%: %w", err)
			}
			l.P99, haveP99 = d, true
		case len(f) > 0 && (f[0] == "Non-2xx" || f[0] == "Socket"):
			return Load{}, fmt.Errorf("wrk: %s", strings.TrimSpace(line))
		}
	}
	if !haveRPS || !haveP99 {
		return Load{}, fmt.Errorf("wrk: no Requests/sec or 99%% line in %q", out)
	}
	return l, nil
}

// parseWrkDuration reads wrk's "1.23ms", "456.00us", "2.10s", "1.5m".
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || !(v >= 0 && v < 1e6) {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// Median is the middle value (the mean of the two middle ones for an even
// count); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Column is one measured quantity of the table.
type Column struct {
	Title  string
	Format func(float64) string
}

// MB formats bytes as "12.3 MB" (10^6 bytes, as the table does).
func MB(v float64) string { return fmt.Sprintf("%.1f MB", v/1e6) }

// Percent formats a share of one core.
func Percent(v float64) string { return fmt.Sprintf("%.2f %%", v) }

// Millis formats seconds as milliseconds.
func Millis(v float64) string { return fmt.Sprintf("%.0f ms", v*1000) }

// PerSec formats a rate.
func PerSec(v float64) string { return fmt.Sprintf("%.0f/s", v) }

// Row is one measured subject: its runs' values per column (NaN where a run
// has no value for a column).
type Row struct {
	Name   string
	Values [][]float64 // [column][run]
}

// Table renders rows as a Markdown table: each cell is the median of the
// runs, with the range when there are several; "—" when no run has one.
func Table(cols []Column, rows []Row) string {
	var b strings.Builder
	b.WriteString("| subject |")
	for _, c := range cols {
		b.WriteString(" " + c.Title + " |")
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + r.Name + " |")
		for i, c := range cols {
			var vs []float64
			if i < len(r.Values) {
				for _, v := range r.Values[i] {
					if !math.IsNaN(v) {
						vs = append(vs, v)
					}
				}
			}
			b.WriteString(" " + cell(c, vs) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func cell(c Column, vs []float64) string {
	if len(vs) == 0 {
		return "—"
	}
	m := c.Format(Median(vs))
	if len(vs) == 1 {
		return m
	}
	return fmt.Sprintf("**%s** (%s–%s)", m, c.Format(slices.Min(vs)), c.Format(slices.Max(vs)))
}

// WithPProf turns on the portal's profiler in a decoded agent config:
// [portal] pprof = true, with the token the agent requires for it (the
// profiler is served behind it, at /debug/pprof/ on the portal's address).
func WithPProf(cfg map[string]any, token string) {
	portal := section(cfg, "portal")
	portal["pprof"] = true
	portal["token"] = token
	delete(portal, "token_file")
}

// section returns m[key] as a table, adding an empty one if needed.
func section(m map[string]any, key string) map[string]any {
	s, ok := m[key].(map[string]any)
	if !ok {
		s = map[string]any{}
		m[key] = s
	}
	return s
}
