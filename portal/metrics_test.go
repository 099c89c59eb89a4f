package portal

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/sdk"
)

func scrape(t *testing.T, f *fakeSource) map[string]*dto.MetricFamily {
	t.Helper()
	rec := get(t, newTestServer(t, f, ""), "/metrics")
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content-type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, rec.Body)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value returns the value of the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		ls := labelsOf(m)
		for k, v := range want {
			if ls[k] != v {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		default:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsProbeHealth(t *testing.T) {
	fams := scrape(t, newFake())
	tests := []struct {
		name  string
		probe string
		typ   dto.MetricType
		want  float64
	}{
		{"barbossa_probe_up", "system", dto.MetricType_GAUGE, 1},
		{"barbossa_probe_up", "tmux", dto.MetricType_GAUGE, 0},
		{"barbossa_probe_up", "fresh", dto.MetricType_GAUGE, 0},
		{"barbossa_probe_runs_total", "system", dto.MetricType_COUNTER, 42},
		{"barbossa_probe_failures_total", "tmux", dto.MetricType_COUNTER, 3},
		{"barbossa_probe_timeouts_total", "system", dto.MetricType_COUNTER, 1},
		{"barbossa_probe_skipped_total", "system", dto.MetricType_COUNTER, 2},
		{"barbossa_probe_denied_total", "tmux", dto.MetricType_COUNTER, 4},
		{"barbossa_probe_duration_seconds", "system", dto.MetricType_GAUGE, 0.04},
		{"barbossa_probe_last_run_timestamp_seconds", "system", dto.MetricType_GAUGE, float64(t0.Unix())},
		{"barbossa_probe_last_run_timestamp_seconds", "fresh", dto.MetricType_GAUGE, 0},
		{"barbossa_probe_consecutive_failures", "tmux", dto.MetricType_GAUGE, 3},
		{"barbossa_probe_series", "system", dto.MetricType_GAUGE, 110},
	}
	for _, tt := range tests {
		f := fams[tt.name]
		if f == nil {
			t.Errorf("no family %s", tt.name)
			continue
		}
		if f.GetType() != tt.typ {
			t.Errorf("%s: type %s, want %s", tt.name, f.GetType(), tt.typ)
		}
		got, ok := value(t, fams, tt.name, map[string]string{"probe": tt.probe})
		if !ok || got != tt.want {
			t.Errorf("%s{probe=%q} = %v (found %v), want %v", tt.name, tt.probe, got, ok, tt.want)
		}
	}
	for reason, want := range map[string]float64{"max_series": 1200, "disk_full": 3} {
		if v, ok := value(t, fams, "barbossa_probe_dropped_total", map[string]string{"probe": "system", "reason": reason}); !ok || v != want {
			t.Errorf("dropped{reason=%q} = %v (found %v), want %v", reason, v, ok, want)
		}
	}
	if f := fams["barbossa_probe_dropped_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("barbossa_probe_dropped_total: %v", f)
	}
	if v, ok := value(t, fams, "barbossa_entity_healthy", map[string]string{"probe": "docker", "name": "db"}); !ok || v != 0 {
		t.Errorf("entity db healthy = %v, %v", v, ok)
	}
	if v, ok := value(t, fams, "barbossa_build_info", map[string]string{"version": "0.1.0-test"}); !ok || v != 1 {
		t.Errorf("build info = %v, %v", v, ok)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines: Go collector missing")
	}
}

func TestMetricsReportMetrics(t *testing.T) {
	fams := scrape(t, newFake())
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"system_cpu_percent", map[string]string{"probe": "system", "cpu": ""}, 12.5},
		{"system_cpu_percent", map[string]string{"probe": "system", "cpu": "1"}, 15},
		{"system_load_1", map[string]string{"probe": "system"}, 0.5},
		{"system_disk_used_percent", map[string]string{"probe": "system", "mount": "/", "device": "sda1"}, 61.5},
		{"system_net_bytes_recv", map[string]string{"probe": "system", "interface": "wlan0"}, 10},
		{"docker_container_cpu_percent", map[string]string{"container": "web", "image": ""}, 1.5},
		{"docker_container_cpu_percent", map[string]string{"container": "db", "image": "postgres:16"}, 0.5},
		{"docker_container_mem_bytes", map[string]string{"probe": "docker", "exported_probe": "inner", "com_docker_compose": "x"}, 100},
	}
	for _, tt := range tests {
		got, ok := value(t, fams, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	// Every family has one label set across its samples.
	for name, f := range fams {
		var first []string
		for i, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			sort.Strings(names)
			if i == 0 {
				first = names
			} else if strings.Join(names, ",") != strings.Join(first, ",") {
				t.Errorf("%s: label sets %v and %v", name, first, names)
			}
		}
	}
	if got := strings.Join(familyLabels(fams["docker_container_cpu_percent"]), ","); got != "container,image,probe" {
		t.Errorf("docker_container_cpu_percent labels %s", got)
	}
}

func familyLabels(f *dto.MetricFamily) []string {
	if f == nil || len(f.GetMetric()) == 0 {
		return nil
	}
	var names []string
	for _, l := range f.GetMetric()[0].GetLabel() {
		names = append(names, l.GetName())
	}
	sort.Strings(names)
	return names
}

func TestReportMetricsEdgeCases(t *testing.T) {
	rep := func(ms ...sdk.Metric) sdk.Report { return sdk.Report{Metrics: ms} }
	reports := []probeReport{
		{Probe: "a", Report: rep(
			sdk.Metric{Name: "x.y", Value: 1},
			sdk.Metric{Name: "x-y", Value: 2}, // sanitizes to the same series: dropped, not a failed scrape
			sdk.Metric{Name: "barbossa.probe.up", Value: 3},
			sdk.Metric{Name: "go.goroutines", Value: 4},
			sdk.Metric{Name: "9lives", Value: 5},
			sdk.Metric{Name: "l", Labels: map[string]string{"__name": "a", "a:b": "c", "bad\xffval": "v\xff"}, Value: 6},
		)},
		{Probe: "b", Report: rep(sdk.Metric{Name: "x.y", Value: 7})},
	}
	ms := reportMetrics(reports)
	got := map[string]float64{}
	for _, m := range ms {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatalf("write: %v", err)
		}
		desc := m.Desc().String()
		name := desc[strings.Index(desc, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		got[name+"/"+labelsOf(&d)["probe"]] = d.GetGauge().GetValue()
	}
	want := map[string]float64{"x_y/a": 1, "x_y/b": 7, "_9lives/a": 5, "l/a": 6}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestMetricNames(t *testing.T) {
	for in, want := range map[string]string{
		"system.cpu.percent": "system_cpu_percent", "a:b": "a:b", "9x": "_9x", "é": "_", "": "_", "x-y/z": "x_y_z",
	} {
		if got := metricName(in); got != want {
			t.Errorf("metricName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"mount": "mount", "a.b": "a_b", "a:b": "a_b", "__x": "_x", "probe": "exported_probe", "1a": "_1a",
	} {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetricsWithoutReports(t *testing.T) {
	f := newFake()
	f.latest = nil
	f.health = append(f.health, scheduler.Health{Name: "off", State: "disabled"})
	fams := scrape(t, f)
	if _, ok := fams["system_cpu_percent"]; ok {
		t.Error("report metrics exported without a fresh report")
	}
	if v, ok := value(t, fams, "barbossa_probe_up", map[string]string{"probe": "off"}); !ok || v != 0 {
		t.Errorf("disabled probe up = %v, %v", v, ok)
	}
}
