package limits

import (
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/sdk"
)

var t0 = time.Date(2025, 8, 10, 12, 0, 0, 0, time.UTC)

func small() Config {
	return Config{Metrics: 4, Entities: 2, NameBytes: 16, Labels: 2, LabelNameBytes: 14, LabelValueBytes: 8, Series: 3, SeriesIdle: time.Hour}
}

func metric(name string, labels ...string) sdk.Metric {
	m := sdk.Metric{Name: name, Value: 1}
	if len(labels) > 0 {
		m.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Labels[labels[i]] = labels[i+1]
		}
	}
	return m
}

func names(ms []sdk.Metric) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestApplyDropsWhatIsOver(t *testing.T) {
	tests := []struct {
		name    string
		metric  sdk.Metric
		dropped string // "" when kept
	}{
		{"plain", metric("p.ok"), ""},
		{"labels", metric("p.ok", "a", "1", "b", "2"), ""},
		{"name at the limit", metric(strings.Repeat("n", 16)), ""},
		{"name over", metric(strings.Repeat("n", 17)), ReasonNameBytes},
		{"70,000-byte name", metric(strings.Repeat("x", 70_000)), ReasonNameBytes},
		{"empty name", metric(""), ReasonName},
		{"NUL in name", metric("p.a\x00b"), ReasonName},
		{"space in name", metric("p.a b"), ReasonName},
		{"invalid UTF-8 name", metric("p.\xff"), ReasonName},
		{"too many labels", metric("p.x", "a", "1", "b", "2", "c", "3"), ReasonLabels},
		{"label name over", metric("p.x", strings.Repeat("k", 15), "1"), ReasonLabelNameBytes},
		{"label value over", metric("p.x", "k", strings.Repeat("v", 9)), ReasonLabelValueBytes},
		{"empty label name", metric("p.x", "", "1"), ReasonLabel},
		{"label name with =", metric("p.x", "a=b", "1"), ReasonLabel},
		{"label value not UTF-8", metric("p.x", "k", "\xff\xfe"), ReasonLabel},
		{"probe and exported_probe both", metric("p.x", "probe", "a", "exported_probe", "b"), ReasonLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(small())
			in := sdk.Report{Metrics: []sdk.Metric{metric("p.before"), tt.metric, metric("p.after")}}
			got, dropped := g.Apply(t0, in)
			want := []string{"p.before", "p.after"}
			if tt.dropped == "" {
				want = []string{"p.before", tt.metric.Name, "p.after"}
				if dropped != nil {
					t.Errorf("dropped %v, want nothing", dropped)
				}
			} else if !reflect.DeepEqual(dropped, map[string]uint64{tt.dropped: 1}) {
				t.Errorf("dropped %v, want {%s: 1}", dropped, tt.dropped)
			}
			if !reflect.DeepEqual(names(got.Metrics), want) {
				t.Errorf("kept %q, want %q", names(got.Metrics), want)
			}
			if len(in.Metrics) != 3 || in.Metrics[1].Name != tt.metric.Name {
				t.Error("the input report was modified")
			}
			if !reflect.DeepEqual(g.Dropped(), map[string]uint64(dropped)) && !(dropped == nil && len(g.Dropped()) == 0) {
				t.Errorf("totals %v, want %v", g.Dropped(), dropped)
			}
		})
	}
}

func TestApplyCapsMetricsAndEntities(t *testing.T) {
	g := New(Config{Metrics: 4, Entities: 2, NameBytes: 16, Labels: 2, LabelNameBytes: 8, LabelValueBytes: 8, Series: 100, SeriesIdle: time.Hour})
	var r sdk.Report
	for i := range 7 {
		r.Gauge("p.m"+strconv.Itoa(i), 1, nil)
	}
	for i := range 5 {
		r.Add(sdk.Entity{Kind: "k", ID: strconv.Itoa(i)})
	}
	got, dropped := g.Apply(t0, r)
	if len(got.Metrics) != 4 || got.Metrics[3].Name != "p.m3" || len(got.Entities) != 2 || got.Entities[1].ID != "1" {
		t.Errorf("kept %d metrics, %d entities: %+v", len(got.Metrics), len(got.Entities), got)
	}
	if want := map[string]uint64{ReasonMetrics: 3, ReasonEntities: 3}; !reflect.DeepEqual(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	// The kept slices must not share room to grow with the input.
	got.Metrics = append(got.Metrics, metric("p.appended"))
	if r.Metrics[4].Name != "p.m4" {
		t.Error("appending to the kept metrics overwrote the input")
	}
}

func TestApplyRenamesProbeLabel(t *testing.T) {
	g := New(small())
	in := sdk.Report{Metrics: []sdk.Metric{metric("p.x", "probe", "inner", "a", "1")}}
	got, dropped := g.Apply(t0, in)
	if dropped != nil || len(got.Metrics) != 1 {
		t.Fatalf("got %+v, dropped %v", got, dropped)
	}
	if want := map[string]string{"exported_probe": "inner", "a": "1"}; !reflect.DeepEqual(got.Metrics[0].Labels, want) {
		t.Errorf("labels %v, want %v", got.Metrics[0].Labels, want)
	}
	if in.Metrics[0].Labels["probe"] != "inner" {
		t.Error("the input's labels were modified")
	}
}

// A probe minting a new label value every run hits max_series: series it
// already has keep reporting, new ones are dropped until old ones go idle.
func TestSeriesCeiling(t *testing.T) {
	g := New(small()) // 3 series, idle after 1h
	run := func(at time.Time, ids ...string) (kept []string, dropped uint64) {
		var r sdk.Report
		for _, id := range ids {
			r.Gauge("p.x", 1, map[string]string{"id": id})
		}
		got, d := g.Apply(at, r)
		for _, m := range got.Metrics {
			kept = append(kept, m.Labels["id"])
		}
		return kept, d[ReasonSeries]
	}
	check := func(what string, kept []string, dropped uint64, wantKept []string, wantDropped uint64) {
		t.Helper()
		if !reflect.DeepEqual(kept, wantKept) || dropped != wantDropped {
			t.Errorf("%s: kept %q dropped %d; want %q and %d", what, kept, dropped, wantKept, wantDropped)
		}
	}
	kept, d := run(t0, "a", "b")
	check("first run", kept, d, []string{"a", "b"}, 0)
	kept, d = run(t0.Add(time.Minute), "a", "c", "d", "e")
	check("at the ceiling", kept, d, []string{"a", "c"}, 2)
	kept, d = run(t0.Add(2*time.Minute), "a", "b", "c", "f")
	check("known series keep reporting", kept, d, []string{"a", "b", "c"}, 1)
	if g.Series() != 3 {
		t.Errorf("%d active series, want 3", g.Series())
	}
	// b and c go idle (last seen at +2m) an hour later; a keeps reporting.
	kept, d = run(t0.Add(61*time.Minute), "a")
	check("a alone", kept, d, []string{"a"}, 0)
	kept, d = run(t0.Add(2*time.Minute+time.Hour+time.Minute), "g", "h", "i")
	check("after b and c went idle", kept, d, []string{"g", "h"}, 1)
	if got := g.Dropped()[ReasonSeries]; got != 4 {
		t.Errorf("total max_series drops %d, want 4", got)
	}
}

// SetConfig changes the limits from the next report on and keeps what the
// guard remembers: its active series (still counted against a lowered
// max_series) and its totals dropped.
func TestSetConfigKeepsSeries(t *testing.T) {
	g := New(small()) // 3 series
	report := func(ids ...string) sdk.Report {
		var r sdk.Report
		for _, id := range ids {
			r.Gauge("p.x", 1, map[string]string{"id": id})
		}
		return r
	}
	if _, d := g.Apply(t0, report("a", "b", "c", "d")); d[ReasonSeries] != 1 {
		t.Fatalf("at 3 series: dropped %v", d)
	}
	raised := small()
	raised.Series = 5
	g.SetConfig(raised)
	if g.Config() != raised || g.Series() != 3 {
		t.Fatalf("after SetConfig: %+v, %d series", g.Config(), g.Series())
	}
	got, d := g.Apply(t0.Add(time.Second), report("a", "d", "e", "f"))
	if len(got.Metrics) != 3 || d[ReasonSeries] != 1 {
		t.Errorf("raised to 5 with a, b, c active: kept %d, dropped %v; want d and e new, f over", len(got.Metrics), d)
	}
	lowered := small()
	lowered.Series, lowered.NameBytes = 2, 2
	g.SetConfig(lowered)
	got, d = g.Apply(t0.Add(2*time.Second), report("g"))
	if len(got.Metrics) != 0 || d[ReasonNameBytes] != 1 {
		t.Errorf("max_name_bytes 2: kept %d, dropped %v", len(got.Metrics), d)
	}
	lowered.NameBytes = 16
	g.SetConfig(lowered)
	got, d = g.Apply(t0.Add(3*time.Second), report("a", "e", "g"))
	if len(got.Metrics) != 2 || d[ReasonSeries] != 1 {
		t.Errorf("lowered to 2 with 5 active: kept %d, dropped %v; want a and e kept, g over", len(got.Metrics), d)
	}
	if tot := g.Dropped(); tot[ReasonSeries] != 3 || tot[ReasonNameBytes] != 1 {
		t.Errorf("totals %v", tot)
	}
}

// The same label set in another map order is the same series.
func TestSeriesKeyIgnoresOrder(t *testing.T) {
	g := New(Config{Metrics: 100, Entities: 1, NameBytes: 64, Labels: 8, LabelNameBytes: 8, LabelValueBytes: 8, Series: 1, SeriesIdle: time.Hour})
	for i := range 20 {
		l := map[string]string{}
		for j := range 6 {
			k := (i + j) % 6
			l["k"+strconv.Itoa(k)] = "v" + strconv.Itoa(k)
		}
		if _, d := g.Apply(t0, sdk.Report{Metrics: []sdk.Metric{{Name: "p.x", Labels: l}}}); d != nil {
			t.Fatalf("run %d: the same series was counted as new: %v", i, d)
		}
	}
	if _, d := g.Apply(t0, sdk.Report{Metrics: []sdk.Metric{metric("p.x", "k0", "other")}}); d[ReasonSeries] != 1 {
		t.Errorf("a different label value was not a new series: %v", d)
	}
}

// FuzzApply feeds arbitrary names, labels and counts through a guard: it
// must not panic, everything it keeps must be within the limits, and kept
// plus dropped must account for every metric.
func FuzzApply(f *testing.F) {
	f.Add("p.ok", "k", "v", uint8(3))
	f.Add(strings.Repeat("x", 300), "k", "v", uint8(1))
	f.Add("p.x", "probe", "inner", uint8(2))
	f.Add("p.x", "exported_probe", "", uint8(2))
	f.Add("", "", "", uint8(0))
	f.Add("p.\x00", "a=b", "\xff", uint8(9))
	f.Add("a/b:c-d_e.f", strings.Repeat("k", 129), strings.Repeat("v", 1025), uint8(40))
	f.Fuzz(func(t *testing.T, name, k, v string, n uint8) {
		cfg := Defaults()
		cfg.Metrics, cfg.Series = 16, 8
		g := New(cfg)
		var r sdk.Report
		for i := range int(n) {
			labels := map[string]string{k: v}
			if i%2 == 1 {
				labels["i"] = strconv.Itoa(i)
			}
			r.Gauge(name, float64(i), labels)
		}
		before := maps.Clone(map[string]string{k: v})
		got, dropped := g.Apply(t0, r)
		total := uint64(len(got.Metrics))
		for _, c := range dropped {
			total += c
		}
		if total != uint64(n) {
			t.Fatalf("kept %d + dropped %v != %d metrics", len(got.Metrics), dropped, n)
		}
		if len(got.Metrics) > cfg.Metrics || g.Series() > cfg.Series {
			t.Fatalf("over the limits: %d metrics, %d series", len(got.Metrics), g.Series())
		}
		for _, m := range got.Metrics {
			if !selector.ValidName(m.Name) || len(m.Name) > cfg.NameBytes || len(m.Labels) > cfg.Labels {
				t.Fatalf("kept a bad metric %q", m.Name)
			}
			if _, ok := m.Labels[ProbeLabel]; ok {
				t.Fatalf("kept a %q label", ProbeLabel)
			}
			for lk, lv := range m.Labels {
				if !selector.ValidName(lk) || len(lk) > cfg.LabelNameBytes || len(lv) > cfg.LabelValueBytes || !utf8.ValidString(lv) {
					t.Fatalf("kept a bad label %q=%q", lk, lv)
				}
			}
		}
		if n > 0 && !reflect.DeepEqual(r.Metrics[0].Labels, before) {
			t.Fatal("the input's labels were modified")
		}
	})
}

// BenchmarkApply is the cost limits add to a run: a report of 100 metrics
// with two labels each (about the system probe's), all series known.
func BenchmarkApply(b *testing.B) {
	g := New(Defaults())
	var r sdk.Report
	for i := range 100 {
		r.Gauge("system.metric", float64(i), map[string]string{"cpu": strconv.Itoa(i), "mode": "user"})
	}
	g.Apply(t0, r)
	b.ReportAllocs()
	for b.Loop() {
		if _, d := g.Apply(t0, r); d != nil {
			b.Fatal(d)
		}
	}
}
