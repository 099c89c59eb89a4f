package portal

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// fakeSource is a Source with fixed data that counts its calls.
type fakeSource struct {
	Changes

	healthCalls atomic.Int64
	latestCalls atomic.Int64
	eventCalls  atomic.Int64
	hostCalls   atomic.Int64

	mu         sync.Mutex
	health     []scheduler.Health
	latest     map[string]store.Record
	latestErr  error
	events     []store.Event
	series     []store.Series
	seriesList []store.SeriesInfo
	storeH     store.Health
	block      chan struct{} // when set, QueryEach waits for it to close
	host       Host
	dropIns    []DropInProblem
	panicOn    string // "health" makes Health panic
	// hold, when set, keeps Host from returning until it is closed: a
	// request held in flight (on a channel, which a synctest bubble can wait
	// on, unlike a mutex).
	hold chan struct{}

	queries     []store.Query
	eventsSince time.Time
	eventsLimit int
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) bump() { f.Bump() }

func (f *fakeSource) Health() []scheduler.Health {
	f.healthCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicOn == "health" {
		panic("fake health panic")
	}
	return append([]scheduler.Health(nil), f.health...)
}

func (f *fakeSource) Latest(probe string) (store.Record, bool, error) {
	f.latestCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latestErr != nil {
		return store.Record{}, false, f.latestErr
	}
	r, ok := f.latest[probe]
	return r, ok, nil
}

func (f *fakeSource) QueryEach(q store.Query, fn func(store.Series) error) error {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	f.queries = append(f.queries, q)
	var out []store.Series
	for _, s := range f.series {
		if q.Name != "" && s.Name != q.Name || q.Probe != "" && s.Probe != q.Probe {
			continue
		}
		match := true
		for k, v := range q.Labels {
			if s.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s)
		}
	}
	f.mu.Unlock()
	if q.MaxSeries > 0 && len(out) > q.MaxSeries {
		return fmt.Errorf("fake: %w", store.ErrTooManySeries)
	}
	for _, s := range out {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// SeriesList pages through seriesList; a cursor is the index to go on at.
func (f *fakeSource) SeriesList(m store.Match, cursor string, limit int) ([]store.SeriesInfo, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []store.SeriesInfo
	for _, si := range f.seriesList {
		if (m.Name == "" || si.Name == m.Name) && (m.Probe == "" || si.Probe == m.Probe) {
			all = append(all, si)
		}
	}
	start := 0
	if cursor != "" {
		n, err := fmt.Sscanf(cursor, "at-%d", &start)
		if n != 1 || err != nil || start > len(all) {
			return nil, "", fmt.Errorf("fake: %w", store.ErrBadCursor)
		}
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = fmt.Sprintf("at-%d", end)
	}
	return all[start:end], next, nil
}

func (f *fakeSource) StoreHealth() store.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.storeH
}

func (f *fakeSource) Events(since time.Time, limit int) ([]store.Event, error) {
	f.eventCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventsSince, f.eventsLimit = since, limit
	out := f.events
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeSource) Host() Host {
	f.hostCalls.Add(1)
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.host
}

func (f *fakeSource) DropInProblems() []DropInProblem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropIns
}

var errFake = errors.New("fake store is broken")

// t0 is the fixture's clock: recent, so nothing in it looks ancient.
var t0 = time.Now().Add(-time.Minute).Truncate(time.Second).UTC()

// newFake returns four probes: system (builtin:system, ok, full report),
// docker (ok, a crit container), tmux (failing, its report gone stale) and
// fresh (pending, never ran).
func newFake() *fakeSource {
	f := &fakeSource{
		host: Host{
			Hostname: "testhost", OS: "linux", Platform: "debian", PlatformVersion: "13",
			Kernel: "6.1.0", Arch: "amd64", UptimeSeconds: 3600, BootTime: t0.Add(-time.Hour),
			CPUs: 2, AgentVersion: "0.1.0-test", StartedAt: t0.Add(-10 * time.Minute),
		},
		health: []scheduler.Health{
			{Name: "docker", Runtime: "wasm", Source: "probes/docker.wasm", State: "ok", LastRun: t0, LastSuccess: t0,
				DurationMS: 12.5, Runs: 10, IntervalMS: 15000, TimeoutMS: 5000},
			{Name: "fresh", Runtime: "builtin", Source: "builtin:tmux", State: "pending", IntervalMS: 15000, TimeoutMS: 5000},
			{Name: "system", Runtime: "builtin", Source: "builtin:system", State: "ok", LastRun: t0, LastSuccess: t0,
				DurationMS: 40, Runs: 42, Failures: 1, Timeouts: 1, Skipped: 2, Denied: 0, IntervalMS: 15000, TimeoutMS: 5000,
				Dropped: map[string]uint64{"max_series": 1200, "disk_full": 3}, Series: 110},
			{Name: "tmux", Runtime: "builtin", Source: "builtin:tmux", State: "failing", LastRun: t0,
				LastSuccess: t0.Add(-time.Hour), DurationMS: 3, LastError: "tmux: exit status 1", Runs: 7, Failures: 3,
				ConsecutiveFailures: 3, Denied: 4, IntervalMS: 15000, TimeoutMS: 5000},
		},
		latest: map[string]store.Record{},
		storeH: store.Health{Writable: true, MinFreeBytes: 256 << 20, FreeBytes: 10 << 30},
	}

	var sys sdk.Report
	sys.Status = sdk.StatusOK
	sys.Gauge("system.cpu.percent", 12.5, nil)
	sys.Gauge("system.cpu.percent", 10, map[string]string{"cpu": "0"})
	sys.Gauge("system.cpu.percent", 15, map[string]string{"cpu": "1"})
	sys.Gauge("system.memory.used_percent", 42, nil)
	sys.Gauge("system.load.1", 0.5, nil)
	sys.Gauge("system.disk.used_percent", 61.5, map[string]string{"mount": "/", "device": "sda1"})
	sys.Gauge("system.net.bytes_recv", 1000, map[string]string{"interface": "eth0"})
	sys.Gauge("system.net.bytes_sent", 2000, map[string]string{"interface": "eth0"})
	sys.Gauge("system.net.bytes_recv", 10, map[string]string{"interface": "wlan0"})
	sys.Gauge("system.net.connections", 5, map[string]string{"state": "ESTABLISHED"})
	sys.Gauge("system.net.connections", 2, map[string]string{"state": "TIME_WAIT"})
	sys.Gauge("system.net.udp_sockets", 3, nil)
	sys.Gauge("system.net.listeners", 2, nil)
	sys.Add(sdk.Entity{Kind: "host", ID: "testhost", Name: "testhost", State: "up", Health: sdk.StatusOK,
		Attrs: map[string]any{"os": "linux", "platform": "debian", "platform_version": "13", "kernel": "6.1.0", "arch": "amd64",
			"cpus": float64(2), "uptime": float64(3600), "boot_time": t0.Add(-time.Hour).UTC().Format(time.RFC3339)}})
	sys.Add(sdk.Entity{Kind: "listener", ID: "tcp/0.0.0.0:22", Name: "sshd 0.0.0.0:22", State: "listening", Health: sdk.StatusOK,
		Attrs: map[string]any{"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": float64(22), "pid": float64(812), "process": "sshd"}})
	sys.Add(sdk.Entity{Kind: "listener", ID: "udp/[::]:53", Name: "[::]:53", State: "listening", Health: sdk.StatusOK,
		Attrs: map[string]any{"proto": "udp", "family": "ipv6", "address": "::", "port": uint32(53)}})
	f.latest["system"] = store.Record{Probe: "system", Time: t0, DurationMS: 40, Report: sys}

	var dk sdk.Report
	dk.Status = sdk.StatusCrit
	dk.Message = "1 container unhealthy"
	// Inconsistent label sets within one family, a label called "probe"
	// and a label name Prometheus would reject.
	dk.Gauge("docker.container.cpu_percent", 1.5, map[string]string{"container": "web"})
	dk.Gauge("docker.container.cpu_percent", 0.5, map[string]string{"container": "db", "image": "postgres:16"})
	dk.Gauge("docker.container.mem-bytes", 100, map[string]string{"container": "web", "probe": "inner", "com.docker.compose": "x"})
	dk.Gauge("docker.containers", 2, nil)
	dk.Add(sdk.Entity{Kind: "container", ID: "abc", Name: "web", State: "running", Health: sdk.StatusOK})
	dk.Add(sdk.Entity{Kind: "container", ID: "def", Name: "db", State: "exited", Health: sdk.StatusCrit})
	f.latest["docker"] = store.Record{Probe: "docker", Time: t0, DurationMS: 12.5, Report: dk}

	for i := range 60 {
		f.events = append(f.events, store.Event{
			Time: t0.Add(-time.Duration(i) * time.Minute), Probe: "docker", Kind: "container", ID: "def", Name: "db",
			From: "running", To: "exited", Health: sdk.StatusCrit, Message: fmt.Sprintf("container db exited (%d)", i),
		})
	}
	f.series = []store.Series{
		{Probe: "system", Name: "system.cpu.percent", Labels: map[string]string{}, Points: []store.Point{{T: t0.UnixMilli(), V: 12.5}}},
		{Probe: "system", Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/", "device": "sda1"}, Points: []store.Point{{T: t0.UnixMilli(), V: 61.5}, {T: t0.UnixMilli() + 1000, V: 61.6}}},
		{Probe: "system", Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/home", "device": "sda2"}, Points: []store.Point{{T: t0.UnixMilli(), V: 20}}},
		{Probe: "evil", Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/", "device": "sda1"}, Points: []store.Point{{T: t0.UnixMilli(), V: 999}}},
	}
	for _, s := range f.series {
		f.seriesList = append(f.seriesList, store.SeriesInfo{Probe: s.Probe, Name: s.Name, Labels: s.Labels})
	}
	f.seriesList[0].Labels = nil
	return f
}
