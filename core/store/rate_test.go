package store

import (
	"math"
	"testing"
	"time"
)

func TestCounterRater(t *testing.T) {
	var c counterRater
	steps := []struct {
		t      int64
		v      float64
		want   float64
		wantOK bool
	}{
		{0, 100, 0, false},      // the first value has nothing to count from
		{10_000, 300, 20, true}, // 200 in 10 s
		{10_000, 400, 0, false}, // time did not move
		{20_000, 50, 5, true},   // reset: 50 counted from zero in 10 s
		{25_000, 50, 0, true},   // idle
	}
	for i, s := range steps {
		got, ok := c.next(s.t, s.v)
		if ok != s.wantOK || got != s.want {
			t.Errorf("step %d: next(%d, %g) = %g, %v; want %g, %v", i, s.t, s.v, got, ok, s.want, s.wantOK)
		}
	}
}

// TestQueryRate writes a counter growing 1,000 per 10 s sample for two hours,
// with one reset, and checks its rate from every source: raw samples, minute
// rollups and hour rollups.
func TestQueryRate(t *testing.T) {
	s := openTest(t, "", Options{})
	t0 := hourAgo(3)
	const n = 720
	v := 5e6 // a counter that did not start at zero
	for i := range n {
		if i == 400 {
			v = 0 // a reboot: the counter restarts
		}
		v += 1000
		s.Put(record("p", t0.Add(time.Duration(i)*10*time.Second), gauge("p.bytes", v, nil)))
		s.Put(record("p", t0.Add(time.Duration(i)*10*time.Second), gauge("p.gauge", 7, nil)))
	}
	mustFlush(t, s)
	end := t0.Add(2*time.Hour - time.Millisecond)

	query := func(step time.Duration, from time.Time) []Point {
		t.Helper()
		ss, err := s.Query(Query{Name: "p.bytes", From: from, To: end, Step: step, Rate: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 {
			t.Fatalf("step %s: %d series, want 1", step, len(ss))
		}
		return ss[0].Points
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	// Raw at 1 m buckets of 10 s samples: 100 bytes/s everywhere. The
	// sample at t0 has no predecessor (the lookback finds none), so the
	// first bucket holds 5 rates, the others 6.
	raw := query(time.Second*30, t0)
	if len(raw) != 240 {
		t.Fatalf("raw at 30s: %d points, want 240", len(raw))
	}
	for _, p := range raw {
		if !near(p.V, 100) {
			t.Fatalf("raw rate at %d = %g, want 100 (the reset counts from zero)", p.T, p.V)
		}
	}
	// From a minute after t0: the lookback finds the sample before the
	// window, so the first point is a whole rate too.
	if pts := query(10*time.Second, t0.Add(time.Minute)); len(pts) == 0 || pts[0].T != t0.Add(time.Minute).UnixMilli() || !near(pts[0].V, 100) {
		t.Errorf("raw from t0+1m: first point %v; want [t0+1m, 100]", pts[:min(1, len(pts))])
	}

	// Minute rollups: each bucket's max is its last sample; consecutive
	// maxima differ by 6,000 over 60 s. The reset (sample 400, at 66m40s)
	// falls inside a bucket, whose max is then the value before it: the
	// rates of that bucket and the next are approximate.
	minute := query(time.Minute, t0)
	if len(minute) != 119 { // the first bucket has no bucket before it
		t.Fatalf("minute rollups: %d points, want 119", len(minute))
	}
	resetBucket := t0.Add(66 * time.Minute).UnixMilli()
	for _, p := range minute {
		if p.T == resetBucket || p.T == resetBucket+60_000 {
			if p.V <= 0 {
				t.Errorf("minute rate at the reset = %g, want a positive approximation", p.V)
			}
			continue
		}
		if !near(p.V, 100) {
			t.Fatalf("minute rate at %d = %g, want 100", p.T, p.V)
		}
	}
	// Hour rollups: the reset falls inside the second hour, whose max is
	// the value just before it (sample 399): 40,000 above the first hour's
	// max (sample 359) over 3600 s. What the counter did after the reset
	// is not in the bucket's max: rollup rates are a lower bound across a
	// reset.
	hour := query(time.Hour, t0)
	if len(hour) != 1 || !near(hour[0].V, 40000.0/3600) {
		t.Errorf("hour rollups: %v; want one point of %g", hour, 40000.0/3600)
	}

	// A gauge that never changes has a rate of zero.
	ss, err := s.Query(Query{Name: "p.gauge", From: t0, To: end, Step: time.Minute, Rate: true})
	if err != nil || len(ss) != 1 || len(ss[0].Points) == 0 || ss[0].Points[0].V != 0 {
		t.Errorf("rate of a constant: %v, %v", ss, err)
	}
}
