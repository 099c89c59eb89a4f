package systemd

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

// testBus stands for the bus address of the recorded system in testdata.
const testBus = "unix:path=/run/barbossa-test/system_bus_socket"

// TestGolden runs Collect on a run recorded from a real systemd
// (testdata/replay.json: the harness' running and failing units, a unit
// with a bad setting, a timer, and the ~150 units of a minimal Debian) and
// compares the report with testdata/report.golden.json.
func TestGolden(t *testing.T) {
	replay, err := sdktest.LoadReplay("testdata/replay.json")
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.SetTransport(sdk.SetTransport(replay))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New().Collect(ctx, sdk.Request{Probe: "systemd", Config: map[string]any{"bus": testBus}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(r, "", " ")
	sdktest.Golden(t, "testdata/report.golden.json", append(got, '\n'), *update)
	// What the golden file must say, whatever was recorded.
	if r.Status != sdk.StatusCrit || !strings.Contains(r.Message, "1 failed (barbossa-test-failing.service)") {
		t.Errorf("status %s message %q", r.Status, r.Message)
	}
	for _, e := range r.Entities {
		if e.ID == "barbossa-test-running.service" {
			if _, ok := e.Attrs["memory_bytes"]; ok {
				t.Error("2^64-1 memory reported")
			}
			if e.Attrs["main_pid"] == nil || e.Attrs["since"] == nil {
				t.Errorf("running unit without details: %v", e.Attrs)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string // error substring; "" = ok
	}{
		{nil, ""},
		{map[string]any{"types": []any{"service", ".timer"}, "patterns": []any{"a*"}, "exclude": []any{"b?"}, "details": "all", "all": true, "bus": "session"}, ""},
		{map[string]any{"type": []any{"service"}}, `config of probe "p": unknown key "type" (it has all, bus, details, exclude, patterns, types)`},
		{map[string]any{"types": []any{"daemon"}}, `types: "daemon" is not a unit type`},
		{map[string]any{"patterns": []any{"[a"}}, `patterns: "[a" is not a valid glob`},
		{map[string]any{"exclude": []any{""}}, `exclude: "" is not a valid glob`},
		{map[string]any{"details": "some"}, `details: "some" is not one of active, all, none`},
		{map[string]any{"all": "yes"}, `config of probe "p": all: want true or false, got the string "yes"`},
		{map[string]any{"types": []any{"service", 5.0}}, `config of probe "p": types[1]: want a string, got a number`},
	} {
		_, err := decodeConfig(sdk.Request{Probe: "p", Config: tc.cfg})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	cfg, _ := decodeConfig(sdk.Request{Config: map[string]any{"types": []any{".timer"}}})
	if cfg.Bus != "system" || cfg.Details != DetailsActive || cfg.Types[0] != "timer" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestFilters(t *testing.T) {
	units := []Unit{
		{Name: "nginx.service", LoadState: "loaded", ActiveState: "active"},
		{Name: "nginx-exporter.service", LoadState: "loaded", ActiveState: "inactive"},
		{Name: "backup.timer", LoadState: "loaded", ActiveState: "active"},
		{Name: "gone.service", LoadState: "not-found", ActiveState: "inactive"},
		{Name: "gone-failed.service", LoadState: "not-found", ActiveState: "failed"},
		{Name: "masked.service", LoadState: "masked", ActiveState: "inactive"},
		{Name: "typo.service", LoadState: "bad-setting", ActiveState: "inactive"},
	}
	for _, tc := range []struct {
		cfg     Config
		keep    string
		details string
	}{
		{Config{Details: DetailsActive}, "nginx.service nginx-exporter.service backup.timer gone-failed.service typo.service", "nginx.service gone-failed.service"},
		{Config{Details: DetailsAll, All: true}, "nginx.service nginx-exporter.service backup.timer gone.service gone-failed.service masked.service typo.service", "nginx.service nginx-exporter.service gone.service gone-failed.service masked.service typo.service"},
		{Config{Details: DetailsNone, Types: []string{"timer"}}, "backup.timer", ""},
		{Config{Details: DetailsActive, NameFilter: sdk.NameFilter{Patterns: []string{"nginx*"}, Exclude: []string{"*-exporter.*"}}}, "nginx.service", "nginx.service"},
	} {
		var keep, details []string
		for _, u := range units {
			if tc.cfg.keeps(u) {
				keep = append(keep, u.Name)
				if tc.cfg.wantsDetails(u) {
					details = append(details, u.Name)
				}
			}
		}
		if strings.Join(keep, " ") != tc.keep || strings.Join(details, " ") != tc.details {
			t.Errorf("%+v:\n keeps   %v, want %s\n details %v, want %s", tc.cfg, keep, tc.keep, details, tc.details)
		}
	}
}

func TestParseListUnits(t *testing.T) {
	body := func(s string) sdk.JSON {
		t.Helper()
		j, err := sdk.ParseJSON([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	units, err := parseListUnits(body(`[[["a.service","A","loaded","active","running","","/org/freedesktop/systemd1/unit/a_2eservice",7,"start","/org/freedesktop/systemd1/job/7"]]]`))
	if err != nil || len(units) != 1 || units[0].Name != "a.service" || units[0].JobID != 7 || units[0].JobType != "start" || units[0].Type() != "service" {
		t.Errorf("parse = %+v, %v", units, err)
	}
	for _, bad := range []string{
		`[]`,
		`["x"]`,
		`[[["too","short"]]]`,
		`[[[1,"A","loaded","active","running","","/",0,"","/"]]]`,
		`[[["","A","loaded","active","running","","/",0,"","/"]]]`,
	} {
		if _, err := parseListUnits(body(bad)); err == nil {
			t.Errorf("parseListUnits(%s) did not fail", bad)
		}
	}
}

func TestDetails(t *testing.T) {
	var d Details
	for p, v := range map[property]string{
		propMainPID:     `0`,                    // no process: not reported
		propMemory:      `18446744073709551615`, // 2^64-1: unset
		propCPU:         `2500000000`,
		propTasks:       `"x"`, // wrong type: not reported
		propRestarts:    `3`,
		propStateChange: `1700000000000000`,
		propResult:      `"oom-kill"`,
		propExitStatus:  `-9`,
	} {
		j, err := sdk.ParseJSON([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		d.setProperty(p, j)
	}
	if d.MainPID != nil || d.MemoryBytes != nil || d.Tasks != nil || *d.CPUNanos != 2_500_000_000 || *d.Restarts != 3 || d.Result != "oom-kill" || *d.ExitStatus != -9 {
		t.Errorf("details = %+v", d)
	}
	e := entity(Unit{Name: "a.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}, &d)
	if e.Health != sdk.StatusCrit || e.Attrs["since"] != "2023-11-14T22:13:20Z" || e.Attrs["cpu_seconds"] != 2.5 {
		t.Errorf("entity = %+v", e)
	}
	for _, tc := range []struct {
		u    Unit
		want sdk.Health
	}{
		{Unit{Name: "a.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}, sdk.StatusOK},
		{Unit{Name: "a.service", LoadState: "loaded", ActiveState: "inactive", SubState: "dead"}, sdk.StatusOK},
		{Unit{Name: "a.service", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart"}, sdk.StatusWarn},
		{Unit{Name: "a.service", LoadState: "error", ActiveState: "inactive", SubState: "dead"}, sdk.StatusWarn},
		{Unit{Name: "a.mount", LoadState: "loaded", ActiveState: "failed", SubState: "failed"}, sdk.StatusCrit},
	} {
		if got := entity(tc.u, nil).Health; got != tc.want {
			t.Errorf("%+v: health %s, want %s", tc.u, got, tc.want)
		}
	}
	if got := propertiesFor(Unit{ActiveState: "failed"}); len(got) != 4 || got[2] != propResult {
		t.Errorf("failed unit reads %v", got)
	}
}

func TestReportMessage(t *testing.T) {
	var units []Unit
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		units = append(units, Unit{Name: n + ".service", LoadState: "loaded", ActiveState: "failed"})
	}
	units = append(units, Unit{Name: "z.service", LoadState: "loaded", ActiveState: "maintenance"})
	r := buildReport(units, nil, "3 property reads cut by the deadline")
	want := "8 units: 0 active, 7 failed (a.service, b.service, c.service, d.service, e.service and 2 more); 3 property reads cut by the deadline"
	if r.Message != want {
		t.Errorf("message %q\n   want %q", r.Message, want)
	}
	if metric(r, "systemd.units", "state", "maintenance") != 1 || metric(r, "systemd.units", "state", "active") != 0 || r.Metrics[len(r.Metrics)-1].Labels["state"] != "maintenance" {
		t.Errorf("metrics = %v", r.Metrics)
	}
}

// metric returns the value of name{key=value}, or -1.
func metric(r sdk.Report, name, key, value string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name && m.Labels[key] == value {
			return m.Value
		}
	}
	return -1
}

func TestUnreachable(t *testing.T) {
	r := unreachable("system", &sdk.HostError{Func: "dbus", Message: "dbus: connect to the system bus: system bus not found"})
	if r.Status != sdk.StatusUnknown || r.Message != "systemd is not reachable on the system bus: connect to the system bus: system bus not found" {
		t.Errorf("report %+v", r)
	}
	// No bus at all, or no systemd on it: not present, calmly.
	for _, msg := range []string{
		"dbus: connect to the system bus: dial unix /run/dbus/system_bus_socket: connect: no such file or directory",
		"dbus: org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.systemd1 was not provided by any .service files",
	} {
		r := unreachable("system", &sdk.HostError{Func: "dbus", Message: msg})
		if r.Status != sdk.StatusOK || !strings.HasPrefix(r.Message, sdk.NotPresentPrefix+"no systemd on the system bus") {
			t.Errorf("%s: report %+v, want not present", msg, r)
		}
	}
	// A refused permission is a systemd that is there.
	if r := unreachable("system", &sdk.HostError{Func: "dbus", Message: "dbus: connect to the system bus: permission denied"}); r.Status != sdk.StatusUnknown {
		t.Errorf("permission denied: report %+v, want unknown", r)
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
