package system

import (
	"github.com/shirou/gopsutil/v3/cpu"
)

// cpuTimes is one reading of /proc/stat: the total line and, when per-CPU
// figures are on, one line per logical CPU.
type cpuTimes struct {
	Total  cpu.TimesStat   `json:"total"`
	PerCPU []cpu.TimesStat `json:"per_cpu,omitempty"`
}

// cpuPercents are the busy percentages computed from two cpuTimes.
type cpuPercents struct {
	Known  bool // false until one reading pair could be computed
	Total  float64
	Iowait float64
	Steal  float64
	PerCPU map[string]float64 // by gopsutil's CPU name, "cpu0"
}

// busyIdle splits a TimesStat into time spent busy and idle. Guest time is
// already counted in user and nice by Linux, so it is not added again (which
// is why gopsutil's TimesStat.Total is not used); iowait counts as idle,
// as in top and psutil.
func busyIdle(t cpu.TimesStat) (busy, idle float64) {
	idle = t.Idle + t.Iowait
	busy = t.User + t.Nice + t.System + t.Irq + t.Softirq + t.Steal
	return busy, idle
}

// cpuPercent returns the share of time the CPU was busy between two
// readings, 0..100. ok is false when no time passed between them (two runs
// within one clock tick), when there is nothing to divide by. Counters that
// went backwards (a CPU taken offline and back) clamp to 0 and 100.
func cpuPercent(prev, cur cpu.TimesStat) (pct float64, ok bool) {
	pb, pi := busyIdle(prev)
	cb, ci := busyIdle(cur)
	db, di := cb-pb, ci-pi
	if db < 0 {
		db = 0
	}
	if di < 0 {
		di = 0
	}
	total := db + di
	if total <= 0 {
		return 0, false
	}
	return clampPercent(100 * db / total), true
}

// modePercent is the share of one mode (picked by field) between two readings.
func modePercent(prev, cur cpu.TimesStat, field func(cpu.TimesStat) float64) (float64, bool) {
	pb, pi := busyIdle(prev)
	cb, ci := busyIdle(cur)
	total := (cb + ci) - (pb + pi)
	if total <= 0 {
		return 0, false
	}
	d := field(cur) - field(prev)
	if d < 0 {
		d = 0
	}
	return clampPercent(100 * d / total), true
}

func clampPercent(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 100:
		return 100
	}
	return v
}

// computeCPU turns two readings into percentages. Anything that cannot be
// computed (no time passed) falls back to the value in last, so a probe run
// twice within a tick repeats its last figure rather than dropping it.
func computeCPU(prev, cur cpuTimes, last cpuPercents) cpuPercents {
	out := cpuPercents{Known: last.Known, Total: last.Total, Iowait: last.Iowait, Steal: last.Steal}
	if v, ok := cpuPercent(prev.Total, cur.Total); ok {
		out.Known, out.Total = true, v
	}
	if v, ok := modePercent(prev.Total, cur.Total, func(t cpu.TimesStat) float64 { return t.Iowait }); ok {
		out.Iowait = v
	}
	if v, ok := modePercent(prev.Total, cur.Total, func(t cpu.TimesStat) float64 { return t.Steal }); ok {
		out.Steal = v
	}
	if len(cur.PerCPU) == 0 {
		return out
	}
	before := make(map[string]cpu.TimesStat, len(prev.PerCPU))
	for _, t := range prev.PerCPU {
		before[t.CPU] = t
	}
	out.PerCPU = make(map[string]float64, len(cur.PerCPU))
	for _, t := range cur.PerCPU {
		p, seen := before[t.CPU]
		if !seen {
			continue // a CPU that came online since the last run: next time
		}
		if v, ok := cpuPercent(p, t); ok {
			out.PerCPU[t.CPU] = v
		} else if v, ok := last.PerCPU[t.CPU]; ok {
			out.PerCPU[t.CPU] = v
		}
	}
	return out
}
