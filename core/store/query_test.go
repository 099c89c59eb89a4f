package store

import (
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestDownsampler(t *testing.T) {
	one := func(v float64) agg { return agg{Min: v, Max: v, Sum: v, Count: 1} }
	tests := []struct {
		name string
		step int64
		in   []int64 // times; the value of each is its index
		aggs []agg   // when set, used instead of one(index)
		want []Point
	}{
		{"passthrough", 0, []int64{1, 5, 9}, nil, []Point{{1, 0}, {5, 1}, {9, 2}}},
		{"step 10", 10, []int64{0, 5, 9, 10, 25}, nil, []Point{{0, 1}, {10, 3}, {20, 4}}},
		{"aligned to epoch", 60, []int64{59, 61, 119, 120}, nil, []Point{{0, 0}, {60, 1.5}, {120, 3}}},
		// 40/4 = 10: the mean of all samples, not the mean of the means (10, 10).
		{"weighted by count", 100, []int64{0, 50}, []agg{{Sum: 4, Count: 1}, {Sum: 36, Count: 3}}, []Point{{0, 10}}},
		{"empty", 10, nil, nil, []Point{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDownsampler(tt.step)
			for i, ts := range tt.in {
				a := one(float64(i))
				if tt.aggs != nil {
					a = tt.aggs[i]
				}
				d.add(ts, a)
			}
			if got := d.points(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestQuerySources writes two hours of a series at 10 s (value = sample
// index) and checks raw, minute and hour answers against the arithmetic.
func TestQuerySources(t *testing.T) {
	s := openTest(t, "", Options{})
	t0 := hourAgo(3)
	const n = 720 // 2 h at 10 s
	for i := range n {
		s.Put(record("p", t0.Add(time.Duration(i)*10*time.Second), gauge("p.v", float64(i), nil)))
	}
	mustFlush(t, s)
	end := t0.Add(2*time.Hour - time.Millisecond)
	ms := t0.UnixMilli()
	// 2 h steps are aligned to the epoch: t0 starts one only on even hours.
	twoHourBuckets := 1 + int(ms/3_600_000%2)

	// mean of indexes a..b inclusive
	mean := func(a, b int) float64 { return float64(a+b) / 2 }
	tests := []struct {
		name  string
		q     Query
		count int
		check map[int]Point // index in result -> point
	}{
		{"raw", Query{Name: "p.v", From: t0, To: end}, n, map[int]Point{0: {ms, 0}, 719: {ms + 7_190_000, 719}}},
		{"raw inner range", Query{Name: "p.v", From: t0.Add(time.Minute), To: t0.Add(2 * time.Minute)}, 7, map[int]Point{0: {ms + 60_000, 6}}},
		{"raw step 30s", Query{Name: "p.v", From: t0, To: end, Step: 30 * time.Second}, 240, map[int]Point{0: {ms, mean(0, 2)}, 1: {ms + 30_000, mean(3, 5)}}},
		{"minute rollup", Query{Name: "p.v", From: t0, To: end, Step: time.Minute}, 120, map[int]Point{0: {ms, mean(0, 5)}, 119: {ms + 119*60_000, mean(714, 719)}}},
		{"minute rollup step 5m", Query{Name: "p.v", From: t0, To: end, Step: 5 * time.Minute}, 24, map[int]Point{0: {ms, mean(0, 29)}, 23: {ms + 23*300_000, mean(690, 719)}}},
		{"hour rollup", Query{Name: "p.v", From: t0, To: end, Step: time.Hour}, 2, map[int]Point{0: {ms, mean(0, 359)}, 1: {ms + 3_600_000, mean(360, 719)}}},
		{"hour rollup step 2h", Query{Name: "p.v", From: t0, To: end, Step: 2 * time.Hour}, twoHourBuckets, nil},
		// A From inside a bucket still gets that bucket (it overlaps).
		{"minute rollup from mid-bucket", Query{Name: "p.v", From: t0.Add(90 * time.Second), To: t0.Add(3 * time.Minute), Step: time.Minute}, 3, map[int]Point{0: {ms + 60_000, mean(6, 11)}}},
		{"zero from means everything", Query{Name: "p.v", To: end}, n, nil},
		{"empty range", Query{Name: "p.v", From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour)}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Query(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d series, want 1", len(got))
			}
			pts := got[0].Points
			if len(pts) != tt.count {
				t.Fatalf("%d points, want %d", len(pts), tt.count)
			}
			for i, want := range tt.check {
				if pts[i].T != want.T || math.Abs(pts[i].V-want.V) > 1e-9 {
					t.Errorf("point %d = %v, want %v", i, pts[i], want)
				}
			}
			for i := 1; i < len(pts); i++ {
				if pts[i].T <= pts[i-1].T {
					t.Fatalf("points out of order at %d", i)
				}
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	s := openTest(t, "", Options{})
	now := time.Now()
	for _, q := range []Query{
		{Name: "x", Step: -time.Second},
		{Name: "x", From: now, To: now.Add(-time.Hour)},
	} {
		if _, err := s.Query(q); err == nil {
			t.Errorf("Query(%+v) gave no error", q)
		}
	}
}

func TestLabelFilteringAndSeriesList(t *testing.T) {
	s := openTest(t, "", Options{})
	at := time.Now().Add(-time.Minute)
	s.Put(record("system", at,
		gauge("system.disk.used_percent", 10, map[string]string{"mount": "/", "device": "sda1"}),
		gauge("system.disk.used_percent", 20, map[string]string{"mount": "/home", "device": "sda2"}),
		gauge("system.disk.used_percent", 30, map[string]string{"mount": "/boot", "device": "sda1"}),
		gauge("system.disk", 99, nil), // a name that is a prefix of another
		gauge("system.load.1", 0.5, nil),
	))
	mustFlush(t, s)

	tests := []struct {
		name   string
		q      Query
		values []float64
	}{
		{"all of a name", Query{Name: "system.disk.used_percent"}, []float64{10, 30, 20}}, // sorted by labels
		{"one label", Query{Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/home"}}, []float64{20}},
		{"label shared by two", Query{Name: "system.disk.used_percent", Labels: map[string]string{"device": "sda1"}}, []float64{10, 30}},
		{"two labels", Query{Name: "system.disk.used_percent", Labels: map[string]string{"device": "sda1", "mount": "/"}}, []float64{10}},
		{"no such value", Query{Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/x"}}, nil},
		{"no such label", Query{Name: "system.disk.used_percent", Labels: map[string]string{"fs": "ext4"}}, nil},
		{"empty value matches absence", Query{Name: "system.load.1", Labels: map[string]string{"cpu": ""}}, []float64{0.5}},
		{"prefix name is its own series", Query{Name: "system.disk"}, []float64{99}},
		{"unknown name", Query{Name: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Query(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for _, se := range got {
				if se.Name != tt.q.Name {
					t.Errorf("series %q in answer for %q", se.Name, tt.q.Name)
				}
				if len(se.Points) != 1 {
					t.Fatalf("%v: %d points", se.Labels, len(se.Points))
				}
				vals = append(vals, se.Points[0].V)
			}
			if !reflect.DeepEqual(vals, tt.values) {
				t.Errorf("values %v, want %v", vals, tt.values)
			}
		})
	}

	list, next, err := s.SeriesList(Match{}, "", 0)
	if err != nil || next != "" {
		t.Fatal(next, err)
	}
	want := []string{
		"system system.disk {}",
		"system system.disk.used_percent {device=sda1,mount=/boot}",
		"system system.disk.used_percent {device=sda1,mount=/}",
		"system system.disk.used_percent {device=sda2,mount=/home}",
		"system system.load.1 {}",
	}
	if got := infoStrings(list); !reflect.DeepEqual(got, want) {
		t.Errorf("SeriesList =\n%v\nwant\n%v", got, want)
	}
}

// infoStrings writes series as "probe name {labels}", sorted: a listing's
// order within one name and probe is stable but not by labels.
func infoStrings(list []SeriesInfo) []string {
	out := []string{}
	for _, si := range list {
		keys := make([]string, 0, len(si.Labels))
		for k, v := range si.Labels {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		out = append(out, si.Probe+" "+si.Name+" {"+strings.Join(keys, ",")+"}")
	}
	sort.Strings(out)
	return out
}
