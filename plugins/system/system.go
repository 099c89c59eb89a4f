// Package system is the builtin host-metrics probe: CPU, memory, swap,
// disks, disk and network I/O, load, uptime, processes, TCP connections and
// listening sockets, read through gopsutil. It runs in the agent's process
// because gopsutil cannot run inside WASM.
//
//	p := system.New()
//	rep, err := p.Collect(ctx, sdk.Request{Probe: "system", Config: map[string]any{"per_cpu": false}})
//
// One Probe keeps the previous CPU reading, so CPU percentages cover the
// time between two runs and a run never sleeps to measure them (except the
// very first, see README.md). Reading (read.go) is kept apart from turning
// readings into a report (build.go, cpu.go, filter.go, threshold.go), which
// is pure and tested on stored snapshots.
package system

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Version is the probe's version, reported by Info.
const Version = "1.0.0"

// firstSample is how long the first run waits between two CPU readings,
// because a percentage needs two readings and there is no earlier run.
const firstSample = 200 * time.Millisecond

// Probe collects host metrics. It is safe for concurrent use; create it
// with New.
type Probe struct {
	mu      sync.Mutex
	prevCPU *cpuTimes       // the last run's CPU reading; nil before the first run
	lastCPU cpuPercents     // the last computed percentages, reused within one tick
	stuck   map[string]bool // mounts whose statfs has not returned
	host    hostInfo        // cached static host facts
	hostAt  time.Time       // when host was read
	owners  *owners         // of listening sockets, kept between runs

	// usage is disk.UsageWithContext; tests swap in a statfs that hangs.
	usage func(ctx context.Context, path string) (*disk.UsageStat, error)
}

var _ sdk.Probe = (*Probe)(nil)

// New returns a system probe.
func New() *Probe {
	return &Probe{stuck: map[string]bool{}, usage: disk.UsageWithContext, owners: newOwners(procRoot())}
}

// procRoot is where /proc is: HOST_PROC when set, as gopsutil honours it.
func procRoot() string {
	if d := os.Getenv("HOST_PROC"); d != "" {
		return d
	}
	return "/proc"
}

// Info names the probe "system".
func (p *Probe) Info() sdk.Info {
	return sdk.Info{Name: Name, Version: Version, Description: "host metrics: cpu, memory, disks, network, load, listeners"}
}

// Collect reads the host once. It returns an error only for a bad config or
// a cancelled ctx; a part of the system that cannot be read makes the
// status unknown and is named in the message, and the rest is reported.
func (p *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	cfg, err := parseConfig(req)
	if err != nil {
		return sdk.Report{}, err
	}
	var s snapshot
	pct, err := p.cpu(ctx, cfg.PerCPU, &s)
	if err != nil {
		s.fail("cpu", err)
	}
	if ctx.Err() != nil {
		return sdk.Report{}, fmt.Errorf("system: %w", ctx.Err())
	}
	if err := p.read(ctx, cfg, &s); err != nil {
		return sdk.Report{}, fmt.Errorf("system: %w", err)
	}
	return build(cfg, &s, pct), nil
}

// cpu reads the CPU counters into s and returns the percentages since the
// previous run. With no previous run it takes two readings firstSample apart.
func (p *Probe) cpu(ctx context.Context, perCPU bool, s *snapshot) (cpuPercents, error) {
	p.mu.Lock()
	prev, last := p.prevCPU, p.lastCPU
	p.mu.Unlock()
	// A run with per_cpu on after one with it off has no per-CPU baseline.
	if prev == nil || (perCPU && len(prev.PerCPU) == 0) {
		t, err := readCPU(ctx, perCPU)
		if err != nil {
			return cpuPercents{}, err
		}
		prev = &t
		select {
		case <-time.After(firstSample):
		case <-ctx.Done():
			return cpuPercents{}, ctx.Err()
		}
	}
	cur, err := readCPU(ctx, perCPU)
	if err != nil {
		return cpuPercents{}, err
	}
	s.CPU = cur
	pct := computeCPU(*prev, cur, last)

	p.mu.Lock()
	defer p.mu.Unlock()
	// Keep the previous reading when no tick passed, so the next run
	// measures over a window that has some time in it.
	if !ticked(*prev, cur) {
		return pct, nil
	}
	p.prevCPU, p.lastCPU = &cur, pct
	return pct, nil
}

// ticked reports whether any CPU time was counted between two readings.
func ticked(prev, cur cpuTimes) bool {
	_, ok := cpuPercent(prev.Total, cur.Total)
	return ok
}
