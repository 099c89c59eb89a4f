package system

import (
	"math"
	"testing"

	"github.com/shirou/gopsutil/v3/cpu"
)

func TestCPUPercent(t *testing.T) {
	base := cpu.TimesStat{User: 100, System: 50, Idle: 800, Iowait: 20, Steal: 5, Irq: 1, Softirq: 2}
	add := func(t cpu.TimesStat, f func(*cpu.TimesStat)) cpu.TimesStat { f(&t); return t }
	tests := []struct {
		name   string
		prev   cpu.TimesStat
		cur    cpu.TimesStat
		want   float64
		wantOK bool
	}{
		{"no time passed", base, base, 0, false},
		{"all idle", base, add(base, func(t *cpu.TimesStat) { t.Idle += 10 }), 0, true},
		{"all busy", base, add(base, func(t *cpu.TimesStat) { t.User += 6; t.System += 4 }), 100, true},
		{"quarter busy", base, add(base, func(t *cpu.TimesStat) { t.User += 1; t.Idle += 3 }), 25, true},
		{"iowait counts as idle", base, add(base, func(t *cpu.TimesStat) { t.User += 1; t.Iowait += 1 }), 50, true},
		{"steal, irq and softirq count as busy", base, add(base, func(t *cpu.TimesStat) {
			t.Steal += 1
			t.Irq += 1
			t.Softirq += 1
			t.Idle += 1
		}), 75, true},
		{"guest is inside user and not counted twice", base, add(base, func(t *cpu.TimesStat) {
			t.User += 2
			t.Guest += 2
			t.Idle += 2
		}), 50, true},
		{"idle going backwards clamps to 100", base, add(base, func(t *cpu.TimesStat) { t.User += 5; t.Iowait -= 3 }), 100, true},
		{"busy going backwards clamps to 0", base, add(base, func(t *cpu.TimesStat) { t.User -= 5; t.Idle += 10 }), 0, true},
		{"everything going backwards", base, cpu.TimesStat{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuPercent(tt.prev, tt.cur)
			if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("cpuPercent = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestComputeCPU(t *testing.T) {
	ts := func(name string, busy, idle float64) cpu.TimesStat {
		return cpu.TimesStat{CPU: name, User: busy, Idle: idle}
	}
	tests := []struct {
		name      string
		prev, cur cpuTimes
		last      cpuPercents
		want      cpuPercents
	}{
		{
			name: "total and per cpu",
			prev: cpuTimes{Total: ts("cpu-total", 10, 10), PerCPU: []cpu.TimesStat{ts("cpu0", 5, 5), ts("cpu1", 5, 5)}},
			cur:  cpuTimes{Total: ts("cpu-total", 14, 14), PerCPU: []cpu.TimesStat{ts("cpu0", 8, 6), ts("cpu1", 6, 8)}},
			want: cpuPercents{Known: true, Total: 50, PerCPU: map[string]float64{"cpu0": 75, "cpu1": 25}},
		},
		{
			name: "no tick: last values are repeated",
			prev: cpuTimes{Total: ts("cpu-total", 10, 10), PerCPU: []cpu.TimesStat{ts("cpu0", 5, 5)}},
			cur:  cpuTimes{Total: ts("cpu-total", 10, 10), PerCPU: []cpu.TimesStat{ts("cpu0", 5, 5)}},
			last: cpuPercents{Known: true, Total: 42, Iowait: 1, PerCPU: map[string]float64{"cpu0": 40}},
			want: cpuPercents{Known: true, Total: 42, Iowait: 1, PerCPU: map[string]float64{"cpu0": 40}},
		},
		{
			name: "no tick and nothing before: unknown",
			prev: cpuTimes{Total: ts("cpu-total", 10, 10)},
			cur:  cpuTimes{Total: ts("cpu-total", 10, 10)},
			want: cpuPercents{},
		},
		{
			name: "a cpu that came online has no figure yet",
			prev: cpuTimes{Total: ts("cpu-total", 10, 10), PerCPU: []cpu.TimesStat{ts("cpu0", 5, 5)}},
			cur:  cpuTimes{Total: ts("cpu-total", 12, 12), PerCPU: []cpu.TimesStat{ts("cpu0", 6, 6), ts("cpu1", 1, 1)}},
			want: cpuPercents{Known: true, Total: 50, PerCPU: map[string]float64{"cpu0": 50}},
		},
		{
			name: "per cpu off",
			prev: cpuTimes{Total: ts("cpu-total", 10, 10)},
			cur:  cpuTimes{Total: ts("cpu-total", 11, 19)},
			want: cpuPercents{Known: true, Total: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := computeCPU(tt.prev, tt.cur, tt.last)
			if got.Known != tt.want.Known || got.Total != tt.want.Total || got.Iowait != tt.want.Iowait || got.Steal != tt.want.Steal {
				t.Errorf("computeCPU = %+v, want %+v", got, tt.want)
			}
			if len(got.PerCPU) != len(tt.want.PerCPU) {
				t.Fatalf("per cpu = %v, want %v", got.PerCPU, tt.want.PerCPU)
			}
			for k, v := range tt.want.PerCPU {
				if g, ok := got.PerCPU[k]; !ok || g != v {
					t.Errorf("per cpu %s = %v (present %v), want %v", k, g, ok, v)
				}
			}
		})
	}
}

func TestModePercent(t *testing.T) {
	prev := cpu.TimesStat{User: 10, Idle: 10, Iowait: 5, Steal: 1}
	cur := cpu.TimesStat{User: 14, Idle: 12, Iowait: 8, Steal: 2}
	iowait, ok := modePercent(prev, cur, func(t cpu.TimesStat) float64 { return t.Iowait })
	if !ok || iowait != 30 {
		t.Errorf("iowait = %v, %v; want 30 (3 of 10)", iowait, ok)
	}
	steal, ok := modePercent(prev, cur, func(t cpu.TimesStat) float64 { return t.Steal })
	if !ok || steal != 10 {
		t.Errorf("steal = %v, %v; want 10 (1 of 10)", steal, ok)
	}
	if _, ok := modePercent(prev, prev, func(t cpu.TimesStat) float64 { return t.Steal }); ok {
		t.Error("modePercent with no time passed reported ok")
	}
}
