package procs

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/shirou/gopsutil/v3/process"
)

func TestCPUPercent(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	p := Proc{Created: now.Add(-100 * time.Second).UnixMilli(), CPUSeconds: 12}
	for _, tc := range []struct {
		name     string
		prev     cpuMark
		interval time.Duration
		want     float64
	}{
		{"over the interval", cpuMark{created: p.Created, seconds: 10}, 4 * time.Second, 50},
		{"two cores", cpuMark{created: p.Created, seconds: 4}, 4 * time.Second, 200},
		{"first run: over its life", cpuMark{}, 0, 12},
		{"pid reused: over its life", cpuMark{created: 1, seconds: 10}, 4 * time.Second, 12},
		{"counter went back: over its life", cpuMark{created: p.Created, seconds: 20}, 4 * time.Second, 12},
	} {
		if got := cpuPercent(tc.prev, p, tc.interval, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := cpuPercent(cpuMark{}, Proc{CPUSeconds: 3}, 0, now); got != 0 {
		t.Errorf("unknown start: %v", got)
	}
}

func TestSummarize(t *testing.T) {
	list := []Proc{
		{PID: 1, Name: "init", State: "sleep", CPUPercent: 0.1, RSS: 10 << 20, Threads: 1},
		{PID: 20, Name: "worker", State: "running", CPUPercent: 95, RSS: 100 << 20, Threads: 4},
		{PID: 21, Name: "worker", State: "sleep", CPUPercent: 5, RSS: 100 << 20, Threads: 4},
		{PID: 30, Name: "db", State: "sleep", CPUPercent: 30, RSS: 900 << 20, Threads: 30},
		{PID: 40, Name: "gone", State: "zombie"},
	}
	r := Summarize(list, Config{Top: 2, SortBy: "cpu", CPUWarnPercent: 90, ZombiesWarn: 5})
	if r.Status != sdk.StatusWarn {
		t.Errorf("status %s: worker is at 95%% CPU", r.Status)
	}
	ids := []string{}
	for _, e := range r.Entities {
		ids = append(ids, e.ID+":"+string(e.Health))
	}
	if got := strings.Join(ids, " "); got != "20:warn 30:ok" {
		t.Errorf("entities %s", got)
	}
	want := map[string]float64{
		"procs.count": 5, "procs.running": 1, "procs.zombies": 1, "procs.threads": 39,
		"procs.name.cpu_percent{name=worker}": 100, "procs.name.count{name=worker}": 2,
		"procs.name.rss_bytes{name=db}": 900 << 20,
	}
	got := map[string]float64{}
	for _, m := range r.Metrics {
		k := m.Name
		if n := m.Labels["name"]; n != "" {
			k += "{name=" + n + "}"
		}
		got[k] = m.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["procs.name.count{name=init}"]; ok {
		t.Error("a name outside the top has metrics")
	}
	if r.Message != "5 processes, 1 zombie; top by cpu: worker (pid 20, 95.0% CPU, 100.0 MiB)" {
		t.Errorf("message %q", r.Message)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}

	r = Summarize(list, Config{Top: 1, SortBy: "rss", CPUWarnPercent: 99, RSSWarnBytes: 500 << 20, ZombiesWarn: 1})
	if len(r.Entities) != 1 || r.Entities[0].Name != "db" || r.Entities[0].Health != sdk.StatusWarn || r.Status != sdk.StatusWarn {
		t.Errorf("by rss: %+v, %s", r.Entities, r.Status)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"sort_by": "mem"}, `procs: sort_by = "mem": must be cpu or rss`},
		{map[string]any{"top": -1}, "procs: top = -1: must be positive"},
		{map[string]any{"top": "x"}, `config of probe "p": json: cannot unmarshal string into Go struct field Config.top of type int`},
	} {
		_, err := New().Collect(context.Background(), sdk.Request{Probe: "p", Config: tc.cfg})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %s", tc.cfg, err, tc.want)
		}
	}
}

// TestCollectLive reads the real process table, with a process of our own
// busy on one core and an idle one: from the second run on, CPU use is over
// the interval, so the busy one ranks above the idle one. (Not necessarily
// on top: on a shared machine other processes may be busier.)
func TestCollectLive(t *testing.T) {
	busy := exec.Command("sh", "-c", "while :; do :; done")
	idle := exec.Command("sleep", "600")
	for _, c := range []*exec.Cmd{busy, idle} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	busyPID, idlePID := strconv.Itoa(busy.Process.Pid), strconv.Itoa(idle.Process.Pid)

	busyCPU := func() float64 {
		t.Helper()
		times, err := (&process.Process{Pid: int32(busy.Process.Pid)}).Times()
		if err != nil {
			t.Fatal(err)
		}
		return times.User + times.System
	}

	p := New()
	req := sdk.Request{Probe: "procs", Config: map[string]any{"top": 100000}} // every process
	began := time.Now()
	r, err := p.Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(r.Message, "(CPU since each process started: first run)") {
		t.Errorf("first run message %q", r.Message)
	}
	// The busy loop's CPU time accrues on the real clock, as fast as this
	// machine lets it: wait until it has used 0.2 s since the first run.
	since := busyCPU()
	var used float64
	for used < 0.2 {
		time.Sleep(50 * time.Millisecond) // real CPU time of a real process; polled
		used = busyCPU() - since
	}
	r, err = p.Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The probe's interval lies within this one, and the CPU it counts
	// includes what the loop used in between.
	atLeast := 100 * used / time.Since(began).Seconds()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{}
	cpu := map[string]float64{}
	for i, e := range r.Entities {
		rank[e.ID], cpu[e.ID] = i+1, e.Attrs["cpu_percent"].(float64)
		if e.ID == busyPID && (e.Attrs["cmdline"] != "sh -c while :; do :; done" || e.Attrs["user"] == "") {
			t.Errorf("attrs %v", e.Attrs)
		}
	}
	if rank[busyPID] == 0 || rank[idlePID] == 0 {
		t.Fatalf("busy process %s at rank %d, idle %s at %d; want both reported: %s", busyPID, rank[busyPID], idlePID, rank[idlePID], r.Message)
	}
	// The busy loop is reported with at least the share of a core it had
	// (less 0.1 for rounding), however small this busy machine made it; a
	// sleeping process gets next to nothing.
	if cpu[busyPID] < atLeast-0.1 || cpu[idlePID] >= 1 || rank[busyPID] > rank[idlePID] {
		t.Errorf("busy loop at %.1f%% CPU (rank %d), idle process at %.1f%% (rank %d); want the busy one at %.1f%% or more, the idle one below 1%%, and ranked above it",
			cpu[busyPID], rank[busyPID], cpu[idlePID], rank[idlePID], atLeast)
	}
}
