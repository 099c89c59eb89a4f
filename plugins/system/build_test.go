package system

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	psnet "github.com/shirou/gopsutil/v3/net"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// fixture is testdata/snapshot.json: the readings of a made-up but
// realistic host (a web server with a full data disk), with the CPU
// reading of the run before.
type fixture struct {
	PrevCPU  cpuTimes `json:"prev_cpu"`
	Snapshot snapshot `json:"snapshot"`
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("testdata/snapshot.json: %v", err)
	}
	return f
}

func defaultConfig(t testing.TB) parsedConfig {
	t.Helper()
	cfg, err := parseConfig(sdk.Request{Probe: "system"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestBuildGolden runs the pure half of the probe on a stored snapshot and
// compares the whole report with testdata/report.golden.json. Run with
// -update after an intended change and review the diff.
func TestBuildGolden(t *testing.T) {
	f := loadFixture(t)
	cfg := defaultConfig(t)
	rep := build(cfg, &f.Snapshot, computeCPU(f.PrevCPU, f.Snapshot.CPU, cpuPercents{}))

	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Golden(t, filepath.Join("testdata", "report.golden.json"), append(got, '\n'), *update)
}

// TestBuildFixture checks, independently of the golden file, the facts the
// fixture was made to show.
func TestBuildFixture(t *testing.T) {
	f := loadFixture(t)
	rep := build(defaultConfig(t), &f.Snapshot, computeCPU(f.PrevCPU, f.Snapshot.CPU, cpuPercents{}))

	if err := rep.Validate(); err != nil {
		t.Fatalf("report does not validate: %v", err)
	}
	if rep.Status != sdk.StatusCrit {
		t.Errorf("status = %s, want crit (/data is 96.5%% full)", rep.Status)
	}
	wantMsg := "disk /data used 96.5% >= crit 95%; memory used 91.0% >= warn 90%; disk /mnt/nas used 87.5% >= warn 85%"
	if rep.Message != wantMsg {
		t.Errorf("message = %q\nwant      %q", rep.Message, wantMsg)
	}

	value := func(name string, labels map[string]string) (float64, bool) {
		for _, m := range rep.Metrics {
			if m.Name == name && reflect.DeepEqual(m.Labels, labels) {
				return m.Value, true
			}
		}
		return 0, false
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"system.cpu.percent", nil, 17},
		{"system.cpu.iowait_percent", nil, 3},
		{"system.cpu.steal_percent", nil, 2},
		{"system.cpu.percent", map[string]string{"cpu": "1"}, 100 * 3.0 / 23},
		{"system.cpu.count", nil, 4},
		{"system.memory.total_bytes", nil, 16 << 30},
		{"system.swap.used_percent", nil, 25},
		{"system.disk.used_percent", map[string]string{"mount": "/data", "device": "/dev/sdb1", "fstype": "xfs"}, 96.5},
		{"system.diskio.read_bytes", map[string]string{"device": "nvme0n1"}, 4 << 30},
		{"system.diskio.io_time_seconds", map[string]string{"device": "nvme0n1"}, 980},
		{"system.net.bytes_recv", map[string]string{"interface": "eth0"}, 40 << 30},
		{"system.load.1", nil, 3.1},
		{"system.processes", nil, 312},
		{"system.uptime_seconds", nil, 1209600},
		{"system.net.connections", map[string]string{"state": "ESTABLISHED"}, 3},
		{"system.net.connections", map[string]string{"state": "TIME_WAIT"}, 2},
		{"system.net.connections", map[string]string{"state": "LISTEN"}, 5},
		{"system.net.connections", map[string]string{"state": "SYN_SENT"}, 0},
		{"system.net.udp_sockets", nil, 2},
		{"system.net.listeners", nil, 5},
	}
	for _, c := range checks {
		got, ok := value(c.name, c.labels)
		if !ok {
			t.Errorf("%s%v missing", c.name, c.labels)
			continue
		}
		if d := got - c.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Excluded by the default filters.
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"system.net.bytes_recv", map[string]string{"interface": "lo"}},
		{"system.diskio.read_bytes", map[string]string{"device": "nvme0n1p2"}},
		{"system.diskio.read_bytes", map[string]string{"device": "loop0"}},
		{"system.cpu.percent", map[string]string{"cpu": "2"}}, // no tick passed on cpu2
	} {
		if _, ok := value(c.name, c.labels); ok {
			t.Errorf("%s%v reported, want it left out", c.name, c.labels)
		}
	}

	var ids []string
	for _, e := range rep.Entities {
		ids = append(ids, e.Kind+" "+e.ID)
	}
	wantIDs := []string{
		"host web-1",
		"listener tcp/0.0.0.0:22", "listener tcp/[::]:22", "listener tcp/0.0.0.0:80",
		"listener tcp/127.0.0.1:5432", "listener udp/127.0.0.53:53",
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("entities = %v\nwant %v", ids, wantIDs)
	}
	host := rep.Entities[0]
	if host.Health != sdk.StatusCrit || host.Attrs["boot_time"] != "2026-01-01T00:00:00Z" || host.Attrs["cpus"] != 4 {
		t.Errorf("host entity = %+v", host)
	}
	nginx := rep.Entities[3]
	if nginx.Name != "nginx 0.0.0.0:80" || nginx.Attrs["pid"] != int32(1001) || nginx.Attrs["process"] != "nginx" {
		t.Errorf("port 80 listener = %+v, want nginx with pid 1001 (the socket's owner seen second)", nginx)
	}
	if pg := rep.Entities[4]; pg.Name != "127.0.0.1:5432" || pg.Attrs["pid"] != nil {
		t.Errorf("ownerless listener = %+v, want no pid and the address as name", pg)
	}
}

func TestBuildMaxListeners(t *testing.T) {
	f := loadFixture(t)
	cfg := defaultConfig(t)
	cfg.MaxListeners = 2
	rep := build(cfg, &f.Snapshot, cpuPercents{})
	n := 0
	for _, e := range rep.Entities {
		if e.Kind == "listener" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("listener entities = %d, want the cap of 2", n)
	}
	for _, m := range rep.Metrics {
		if m.Name == "system.net.listeners" && m.Value != 5 {
			t.Errorf("system.net.listeners = %v, want all 5 counted despite the cap", m.Value)
		}
		if m.Name == "system.cpu.percent" {
			t.Errorf("cpu percent reported with no computed value: %+v", m)
		}
	}
}

func TestBuildConnectionsOff(t *testing.T) {
	f := loadFixture(t)
	cfg := defaultConfig(t)
	cfg.Connections = false
	rep := build(cfg, &f.Snapshot, cpuPercents{})
	for _, m := range rep.Metrics {
		if strings.HasPrefix(m.Name, "system.net.connections") || m.Name == "system.net.listeners" {
			t.Errorf("%s reported with connections off", m.Name)
		}
	}
	if len(rep.Entities) != 1 {
		t.Errorf("entities = %d, want the host only", len(rep.Entities))
	}
}

func TestBuildSectionErrors(t *testing.T) {
	s := snapshot{Host: hostInfo{Hostname: "h", CPUs: 2}}
	s.fail("memory", os.ErrPermission)
	rep := build(defaultConfig(t), &s, cpuPercents{})
	if rep.Status != sdk.StatusUnknown {
		t.Errorf("status = %s, want unknown", rep.Status)
	}
	if !strings.Contains(rep.Message, "cannot read memory: permission denied") {
		t.Errorf("message = %q, want it to name the memory section", rep.Message)
	}
	if rep.Entities[0].Health != sdk.StatusUnknown {
		t.Errorf("host health = %s, want unknown", rep.Entities[0].Health)
	}
	if err := rep.Validate(); err != nil {
		t.Error(err)
	}
}

func TestListeners(t *testing.T) {
	c := func(fam, typ uint32, lip string, lport uint32, rip string, rport uint32, status string, pid int32) psnet.ConnectionStat {
		return psnet.ConnectionStat{Family: fam, Type: typ, Laddr: psnet.Addr{IP: lip, Port: lport}, Raddr: psnet.Addr{IP: rip, Port: rport}, Status: status, Pid: pid}
	}
	const tcp, udp, v4, v6 = syscall.SOCK_STREAM, syscall.SOCK_DGRAM, syscall.AF_INET, syscall.AF_INET6
	tests := []struct {
		name  string
		conns []psnet.ConnectionStat
		want  []string
	}{
		{"empty", nil, nil},
		{"tcp listen only", []psnet.ConnectionStat{
			c(v4, tcp, "10.0.0.1", 22, "10.0.0.2", 5000, "ESTABLISHED", 1),
			c(v4, tcp, "0.0.0.0", 22, "0.0.0.0", 0, "LISTEN", 1),
			c(v4, tcp, "10.0.0.1", 80, "10.0.0.2", 5001, "TIME_WAIT", 0),
		}, []string{"tcp/0.0.0.0:22"}},
		{"udp bound, not connected", []psnet.ConnectionStat{
			c(v4, udp, "0.0.0.0", 68, "0.0.0.0", 0, "NONE", 1),
			c(v4, udp, "10.0.0.1", 40000, "1.1.1.1", 53, "NONE", 1),
			c(v4, udp, "0.0.0.0", 0, "0.0.0.0", 0, "NONE", 1),
		}, []string{"udp/0.0.0.0:68"}},
		{"ipv6 brackets and sort by proto, port, address", []psnet.ConnectionStat{
			c(v6, udp, "::", 53, "::", 0, "NONE", 1),
			c(v6, tcp, "::1", 443, "::", 0, "LISTEN", 1),
			c(v4, tcp, "127.0.0.1", 443, "0.0.0.0", 0, "LISTEN", 1),
			c(v4, tcp, "0.0.0.0", 8080, "0.0.0.0", 0, "LISTEN", 1),
		}, []string{"tcp/127.0.0.1:443", "tcp/[::1]:443", "tcp/0.0.0.0:8080", "udp/[::]:53"}},
		{"one socket shared by workers", []psnet.ConnectionStat{
			c(v4, tcp, "0.0.0.0", 80, "0.0.0.0", 0, "LISTEN", 10),
			c(v4, tcp, "0.0.0.0", 80, "0.0.0.0", 0, "LISTEN", 11),
		}, []string{"tcp/0.0.0.0:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range listeners(tt.conns) {
				got = append(got, l.ID())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("listeners = %v, want %v", got, tt.want)
			}
		})
	}
}
