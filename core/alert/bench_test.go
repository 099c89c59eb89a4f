package alert

import (
	"fmt"
	"testing"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/sdk"
)

// BenchmarkEvaluate is one evaluation of the shipped rules over a busy
// host: a system report of 110 metrics (8 mounts), 150 units, 40
// containers, 4 probes. It is what every probe report and every
// [alerting] interval costs.
func BenchmarkEvaluate(b *testing.B) {
	cfg, err := config.Load("../../barbossa.toml")
	if err != nil {
		b.Fatal(err)
	}
	sys := &sdk.Report{}
	sys.Gauge("system.cpu.percent", 12, nil)
	for i := range 2 {
		sys.Gauge("system.cpu.percent", 12, map[string]string{"cpu": fmt.Sprint(i)})
	}
	sys.Gauge("system.memory.used_percent", 40, nil)
	sys.Gauge("system.swap.used_percent", 0, nil)
	for i := range 8 {
		l := map[string]string{"mount": fmt.Sprintf("/m%d", i), "device": fmt.Sprintf("sd%c1", 'a'+i), "fstype": "ext4"}
		sys.Gauge("system.disk.used_percent", 50, l)
		sys.Gauge("system.disk.inodes_used_percent", 5, l)
		for _, n := range []string{"total_bytes", "used_bytes", "free_bytes"} {
			sys.Gauge("system.disk."+n, 1e9, l)
		}
	}
	for len(sys.Metrics) < 110 {
		sys.Gauge(fmt.Sprintf("system.net.bytes_recv.%d", len(sys.Metrics)), 1, map[string]string{"interface": "eth0"})
	}
	units := &sdk.Report{}
	for i := range 150 {
		units.Add(sdk.Entity{Kind: "unit", ID: fmt.Sprintf("u%d.service", i), Name: fmt.Sprintf("u%d.service", i), State: "active", Health: sdk.StatusOK})
	}
	containers := &sdk.Report{}
	for i := range 40 {
		containers.Add(sdk.Entity{Kind: "container", ID: fmt.Sprint(i), Name: fmt.Sprintf("c%d", i), State: "running", Health: sdk.StatusOK})
	}
	probes := []Probe{{Name: "system", State: "ok", Report: sys}, {Name: "systemd", State: "ok", Report: units},
		{Name: "docker", State: "ok", Report: containers}, {Name: "tmux", State: "ok", Report: &sdk.Report{}}}
	e, err := New(cfg, Options{Probes: func() []Probe { return probes }, Hostname: "web-1"})
	if err != nil {
		b.Fatal(err)
	}
	e.Evaluate(e.lastEval) // the baseline
	b.ReportAllocs()
	for b.Loop() {
		e.Evaluate(e.lastEval)
	}
}
