package system

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/barbossa-agent/barbossa/sdk"
)

// These tests read the machine they run on.

func TestInfo(t *testing.T) {
	if got := New().Info().Name; got != "system" {
		t.Errorf("Info().Name = %q, want system", got)
	}
}

func TestCollectLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the live test expects Linux's /proc")
	}
	// A TCP and a UDP listener of our own, which must show up as entities
	// owned by this process.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()

	p := New()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := p.Collect(ctx, sdk.Request{Probe: "system"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Validate(); err != nil {
		t.Fatalf("report does not validate: %v", err)
	}
	if rep.Status == sdk.StatusUnknown {
		t.Errorf("status unknown: %s", rep.Message)
	}
	t.Logf("status %s %q, %d metrics, %d entities", rep.Status, rep.Message, len(rep.Metrics), len(rep.Entities))

	byName := map[string][]sdk.Metric{}
	for _, m := range rep.Metrics {
		byName[m.Name] = append(byName[m.Name], m)
	}
	required := []string{
		"system.cpu.percent", "system.cpu.count",
		"system.memory.total_bytes", "system.memory.used_bytes", "system.memory.available_bytes", "system.memory.used_percent",
		"system.swap.total_bytes", "system.swap.used_bytes", "system.swap.used_percent",
		"system.disk.total_bytes", "system.disk.used_bytes", "system.disk.free_bytes", "system.disk.used_percent",
		"system.diskio.read_bytes", "system.diskio.write_bytes", "system.diskio.reads", "system.diskio.writes",
		"system.net.bytes_sent", "system.net.bytes_recv", "system.net.packets_sent", "system.net.packets_recv",
		"system.net.errin", "system.net.errout", "system.net.dropin", "system.net.dropout",
		"system.load.1", "system.load.5", "system.load.15",
		"system.uptime_seconds", "system.processes",
		"system.net.connections", "system.net.listeners",
	}
	for _, name := range required {
		if len(byName[name]) == 0 {
			t.Errorf("metric %s missing", name)
		}
	}

	percent := func(name string) {
		for _, m := range byName[name] {
			if m.Value < 0 || m.Value > 100 {
				t.Errorf("%s%v = %v, want 0..100", m.Name, m.Labels, m.Value)
			}
		}
	}
	for _, name := range []string{"system.cpu.percent", "system.cpu.iowait_percent", "system.memory.used_percent", "system.swap.used_percent", "system.disk.used_percent"} {
		percent(name)
	}
	one := func(name string) float64 {
		t.Helper()
		for _, m := range byName[name] {
			if m.Labels == nil {
				return m.Value
			}
		}
		t.Fatalf("%s without labels missing", name)
		return 0
	}
	cpus := one("system.cpu.count")
	if cpus < 1 {
		t.Errorf("cpu count = %v", cpus)
	}
	if got := len(byName["system.cpu.percent"]); got != int(cpus)+1 {
		t.Errorf("system.cpu.percent series = %d, want the total plus one per cpu (%v)", got, cpus)
	}
	if total, used := one("system.memory.total_bytes"), one("system.memory.used_bytes"); total <= 0 || used <= 0 || used > total {
		t.Errorf("memory total %v used %v", total, used)
	}
	for _, n := range []string{"system.load.1", "system.load.5", "system.load.15"} {
		if v := one(n); v < 0 {
			t.Errorf("%s = %v", n, v)
		}
	}
	if v := one("system.uptime_seconds"); v <= 0 {
		t.Errorf("uptime = %v", v)
	}
	if v := one("system.processes"); v < 1 {
		t.Errorf("processes = %v", v)
	}
	if v := one("system.net.listeners"); v < 2 {
		t.Errorf("listeners = %v, want at least the test's two", v)
	}
	var root bool
	for _, m := range byName["system.disk.used_percent"] {
		if m.Labels["mount"] == "" || m.Labels["device"] == "" || m.Labels["fstype"] == "" {
			t.Errorf("disk metric without mount/device/fstype labels: %+v", m)
		}
		root = root || m.Labels["mount"] == "/"
	}
	// "/" must be reported unless it is a container's overlay or the like.
	if parts, err := disk.Partitions(true); err == nil {
		for _, part := range parts {
			if part.Mountpoint == "/" && !slices.Contains(DefaultConfig().MountExcludeTypes, part.Fstype) && !root {
				t.Errorf("no disk metric for / (%s on %s) in %v", part.Fstype, part.Device, byName["system.disk.used_percent"])
			}
		}
	}
	for _, m := range byName["system.net.bytes_recv"] {
		if m.Labels["interface"] == "lo" {
			t.Error("lo reported despite the default interface_exclude")
		}
	}

	ents := map[string]sdk.Entity{}
	for _, e := range rep.Entities {
		ents[e.Kind+" "+e.ID] = e
	}
	host, _ := os.Hostname()
	if h, ok := ents["host "+host]; !ok {
		t.Errorf("host entity %q missing from %v", host, keys(ents))
	} else if h.Attrs["kernel"] == "" || h.Attrs["cpus"] != int(cpus) || h.Attrs["boot_time"] == nil {
		t.Errorf("host entity attrs = %v", h.Attrs)
	}
	exe, _ := os.Executable()
	for _, id := range []string{"tcp/" + tl.Addr().String(), "udp/" + ul.LocalAddr().String()} {
		e, ok := ents["listener "+id]
		if !ok {
			t.Errorf("listener %s missing from %v", id, keys(ents))
			continue
		}
		if e.Health != sdk.StatusOK || e.State != "listening" {
			t.Errorf("listener %s = %+v", id, e)
		}
		if e.Attrs["pid"] != int32(os.Getpid()) {
			t.Errorf("listener %s pid = %v, want %d", id, e.Attrs["pid"], os.Getpid())
		}
		// The kernel truncates comm to 15 bytes; gopsutil recovers the rest.
		if name, _ := e.Attrs["process"].(string); name == "" || name != filepath.Base(exe)[:min(len(name), len(filepath.Base(exe)))] {
			t.Errorf("listener %s process = %q, want %q", id, name, filepath.Base(exe))
		}
		if e.Attrs["port"] == uint32(0) {
			t.Errorf("listener %s port = 0", id)
		}
	}

	// The second run measures CPU against the first and must not sleep
	// for a baseline again; checking the kept reading keeps this test free
	// of timing bounds.
	p.mu.Lock()
	first := p.prevCPU
	p.mu.Unlock()
	if first == nil {
		t.Fatal("no CPU reading kept after the first run")
	}
	rep2, err := p.Collect(ctx, sdk.Request{Probe: "system", Config: map[string]any{"connections": false, "per_cpu": false}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byNameOf(rep2)["system.cpu.percent"]) != 1 {
		t.Errorf("per_cpu=false: cpu percent series = %d, want the total only", len(byNameOf(rep2)["system.cpu.percent"]))
	}
	if len(byNameOf(rep2)["system.net.listeners"]) != 0 {
		t.Error("connections=false still reported listeners")
	}
}

func TestCollectBadConfig(t *testing.T) {
	_, err := New().Collect(context.Background(), sdk.Request{Probe: "system", Config: map[string]any{"per_cpuu": true}})
	if err == nil {
		t.Fatal("Collect accepted a misspelt key")
	}
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New().Collect(ctx, sdk.Request{Probe: "system"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestStatfsStuck checks the dead-NFS guard on a fake clock: a statfs that
// hangs is given up on at exactly the timeout, the mount is skipped while
// that call is still stuck, and is read again once the call returns.
func TestStatfsStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New()
		release := make(chan struct{})
		var hung atomic.Bool
		p.usage = func(ctx context.Context, path string) (*disk.UsageStat, error) {
			if path == "/mnt/nas" && hung.CompareAndSwap(false, true) {
				<-release // the first call hangs like a dead server until the test lets go
			}
			return &disk.UsageStat{Path: path, Total: 100, Used: 10, Free: 90, UsedPercent: 10}, nil
		}
		ctx := context.Background()

		began := time.Now()
		if _, err := p.statfs(ctx, "/mnt/nas", 10*time.Millisecond); err == nil || errors.Is(err, errStuck) {
			t.Fatalf("first call: err = %v, want a timeout", err)
		}
		if took := time.Since(began); took != 10*time.Millisecond {
			t.Errorf("the hung call was given up on after %s; want the 10ms timeout", took)
		}
		began = time.Now()
		if _, err := p.statfs(ctx, "/mnt/nas", time.Hour); !errors.Is(err, errStuck) || time.Since(began) != 0 {
			t.Fatalf("while stuck: err = %v after %s, want errStuck at once", err, time.Since(began))
		}
		if u, err := p.statfs(ctx, "/other", time.Hour); err != nil || u.Total != 100 {
			t.Fatalf("another mount: %v, %v", u, err)
		}
		close(release)
		synctest.Wait() // the hung call returns and clears the mark
		if u, err := p.statfs(ctx, "/mnt/nas", time.Hour); err != nil || u.UsedPercent != 10 {
			t.Fatalf("after the call returned: %v, %v", u, err)
		}
	})
}

func keys(m map[string]sdk.Entity) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func byNameOf(r sdk.Report) map[string][]sdk.Metric {
	out := map[string][]sdk.Metric{}
	for _, m := range r.Metrics {
		out[m.Name] = append(out[m.Name], m)
	}
	return out
}
