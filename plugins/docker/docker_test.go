package docker

import (
	"context"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.json")

// testSocket stands for the socket of the recorded daemon in testdata.
const testSocket = "/run/barbossa-test/docker.sock"

// metric returns the value of name{container=c} (or of the label key given
// as the third argument), or -1.
func metric(r sdk.Report, name, value string, key ...string) float64 {
	k := "container"
	if len(key) > 0 {
		k = key[0]
	}
	for _, m := range r.Metrics {
		if m.Name == name && m.Labels[k] == value {
			return m.Value
		}
	}
	return -1
}

// TestGolden runs Collect on a run recorded from a real dockerd 20.10
// (testdata/replay.json: containers running, exited 2 and 0, paused,
// created, unhealthy and healthy) and compares the report with
// testdata/report.golden.json.
func TestGolden(t *testing.T) {
	replay, err := sdktest.LoadReplay("testdata/replay.json")
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.SetTransport(sdk.SetTransport(replay))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New().Collect(ctx, sdk.Request{Probe: "docker", Config: map[string]any{"socket": testSocket}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(r, "", " ")
	sdktest.Golden(t, "testdata/report.golden.json", append(got, '\n'), *update)
	if r.Status != sdk.StatusCrit || !strings.HasPrefix(r.Message, "8 containers: 1 created, 4 running, 1 paused, 2 exited; 2 unhealthy (job exited 2, sick unhealthy)") {
		t.Errorf("status %s message %q", r.Status, r.Message)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{nil, ""},
		{map[string]any{"socket": "unix:///run/docker.sock", "patterns": []any{"web-*"}, "exclude": []any{"*-tmp"}, "stats": false, "labels": false}, ""},
		{map[string]any{"sock": "/x"}, `config of probe "p": unknown key "sock" (it has exclude, labels, patterns, socket, stats)`},
		{map[string]any{"socket": "docker.sock"}, `socket: "docker.sock" must be an absolute path`},
		{map[string]any{"patterns": []any{"[x"}}, `patterns: "[x" is not a valid glob`},
		{map[string]any{"stats": "no"}, `config of probe "p": stats: want true or false, got the string "no"`},
	} {
		_, err := decodeConfig(sdk.Request{Probe: "p", Config: tc.cfg})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	cfg, _ := decodeConfig(sdk.Request{Config: map[string]any{"socket": "unix:///run/docker.sock"}})
	if cfg.Socket != "/run/docker.sock" || !cfg.Stats || !cfg.Labels {
		t.Errorf("config = %+v", cfg)
	}
}

func TestCPUPercent(t *testing.T) {
	for _, tc := range []struct {
		prev, cur cpuSample
		want      float64
		ok        bool
	}{
		// 0.5 s of container CPU over 2 s of host CPU time on 2 CPUs: 50%.
		{cpuSample{1e9, 100e9, 2}, cpuSample{1.5e9, 102e9, 2}, 50, true},
		{cpuSample{0, 0, 2}, cpuSample{1e9, 100e9, 2}, 0, false},       // no earlier reading
		{cpuSample{2e9, 100e9, 2}, cpuSample{1e9, 101e9, 2}, 0, false}, // container restarted
		{cpuSample{1e9, 100e9, 2}, cpuSample{1e9, 100e9, 2}, 0, false}, // no time passed
	} {
		got, ok := cpuPercent(tc.prev, tc.cur)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("cpuPercent(%v, %v) = %v, %v; want %v, %v", tc.prev, tc.cur, got, ok, tc.want, tc.ok)
		}
	}
	// The second run of a probe uses the first run's readings.
	s := func(total, system uint64) *stats {
		st := &stats{Read: time.Unix(1, 0)}
		st.CPUStats.Usage.Total, st.CPUStats.System, st.CPUStats.OnlineCPUs = total, system, 4
		return st
	}
	c := container{listed: listed{ID: "a1", Names: []string{"/web"}, State: "running"}}
	c.stats = s(1e9, 100e9)
	r, next := buildReport([]container{c}, nil, DefaultConfig(), "")
	if _, ok := r.Entities[0].Attrs["cpu_percent"]; ok || next["a1"].Total != 1e9 {
		t.Errorf("first run: %v, %v", r.Entities[0].Attrs, next)
	}
	c.stats = s(1.1e9, 104e9)
	r, _ = buildReport([]container{c}, next, DefaultConfig(), "")
	if r.Entities[0].Attrs["cpu_percent"] != 10.0 || metric(r, "docker.container.cpu_percent", "web") != 10 {
		t.Errorf("second run: %v", r.Entities[0].Attrs)
	}
}

func TestEntityHealth(t *testing.T) {
	in := func(f func(*inspected)) *inspected {
		var i inspected
		f(&i)
		return &i
	}
	for _, tc := range []struct {
		c    container
		want sdk.Health
		why  string
	}{
		{container{listed: listed{State: "running", Status: "Up 2 hours"}}, sdk.StatusOK, ""},
		{container{listed: listed{State: "running", Status: "Up 2 hours (unhealthy)"}}, sdk.StatusCrit, "unhealthy"},
		{container{listed: listed{State: "running", Status: "Up 2 seconds (health: starting)"}}, sdk.StatusOK, ""},
		{container{listed: listed{State: "exited", Status: "Exited (137) 5 minutes ago"}}, sdk.StatusCrit, "exited 137"},
		{container{listed: listed{State: "exited", Status: "Exited (0) 5 minutes ago"}}, sdk.StatusOK, ""},
		{container{listed: listed{State: "exited", Status: "Exited (0) 1 second ago"}, inspect: in(func(i *inspected) { i.State.ExitCode = 3 })}, sdk.StatusCrit, "exited 3"},
		{container{listed: listed{State: "exited", Status: "Exited (137)"}, inspect: in(func(i *inspected) { i.State.ExitCode = 137; i.State.OOMKilled = true })}, sdk.StatusCrit, "killed: out of memory"},
		{container{listed: listed{State: "restarting", Status: "Restarting (1) 2 seconds ago"}}, sdk.StatusWarn, "restarting"},
		{container{listed: listed{State: "dead", Status: "Dead"}}, sdk.StatusCrit, "dead"},
		{container{listed: listed{State: "paused", Status: "Up 1 hour (Paused)"}}, sdk.StatusOK, ""},
		{container{listed: listed{State: "created", Status: "Created"}}, sdk.StatusOK, ""},
	} {
		e, why := entity(tc.c, true)
		if e.Health != tc.want || why != tc.why {
			t.Errorf("%s %q: health %s (%q), want %s (%q)", tc.c.State, tc.c.Status, e.Health, why, tc.want, tc.why)
		}
	}
}

func TestParseHelpers(t *testing.T) {
	ports := portList([]port{{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {IP: "::", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 443, Type: "tcp"}})
	if strings.Join(ports, " ") != "0.0.0.0:8080->80/tcp 443/tcp :::8080->80/tcp" {
		t.Errorf("ports = %v", ports)
	}
	doc, err := sdk.ParseJSON([]byte(`{"memory_stats":{"usage":100,"limit":1000,"stats":{"inactive_file":30}},
		"blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":5},{"op":"Write","value":7},{"op":"read","value":1}]},
		"networks":{"eth0":{"rx_bytes":10,"tx_bytes":20},"eth1":{"rx_bytes":1,"tx_bytes":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := decodeStats(doc)
	rd, wr := s.blockIO()
	rx, tx, ok := s.network()
	if s.memoryUsed() != 70 || rd != 6 || wr != 7 || rx != 11 || tx != 22 || !ok {
		t.Errorf("mem %d block %d/%d net %d/%d %v", s.memoryUsed(), rd, wr, rx, tx, ok)
	}
	if n := (listed{ID: "0123456789abcdef", Names: []string{"/web/db", "/db"}}).Name(); n != "db" {
		t.Errorf("name = %q", n)
	}
	if n := (listed{ID: "0123456789abcdef"}).Name(); n != "0123456789ab" {
		t.Errorf("nameless = %q", n)
	}
	if msg := notRunning("/s", &sdk.HostError{Func: "http", Message: `http GET of "http://docker/x": dial unix /s: connect: connection refused`}); msg != "Docker is not running (nothing listens on /s)" {
		t.Errorf("notRunning = %q", msg)
	}
	if m := apiMessage(`{"message":"No such container: x"}`); m != "No such container: x" {
		t.Errorf("apiMessage = %q", m)
	}
}

// TestSampleConfig checks that testdata/sample.toml, which the README
// shows, is valid and says what the defaults are.
func TestSampleConfig(t *testing.T) {
	var file struct {
		Probe []struct {
			Config map[string]any `toml:"config"`
		} `toml:"probe"`
	}
	if _, err := toml.DecodeFile("testdata/sample.toml", &file); err != nil {
		t.Fatal(err)
	}
	cfg, err := decodeConfig(sdk.Request{Probe: "sample", Config: file.Probe[0].Config})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(cfg)
	want, _ := json.Marshal(DefaultConfig())
	// An empty list in the sample is the default's nil list.
	if g := strings.ReplaceAll(string(got), "[]", "null"); g != string(want) {
		t.Errorf("sample.toml reads as\n%s\nthe defaults are\n%s", g, want)
	}
}
