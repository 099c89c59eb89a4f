package store

import (
	"math"
	"testing"
	"time"
)

func TestAgg(t *testing.T) {
	var a agg
	if !math.IsNaN(a.avg()) {
		t.Error("avg of nothing must be NaN")
	}
	for _, v := range []float64{3, -1, 4, 1, 5} {
		a.add(v)
	}
	want := agg{Min: -1, Max: 5, Sum: 12, Count: 5}
	if a != want {
		t.Fatalf("agg = %+v, want %+v", a, want)
	}
	if a.avg() != 2.4 {
		t.Errorf("avg = %v, want 2.4", a.avg())
	}

	var b agg
	b.add(10)
	b.add(-7)
	a.merge(b)
	if want := (agg{Min: -7, Max: 10, Sum: 15, Count: 7}); a != want {
		t.Errorf("merged = %+v, want %+v", a, want)
	}
	var empty agg
	empty.merge(b)
	if empty != b {
		t.Errorf("merge into empty = %+v, want %+v", empty, b)
	}
	b.merge(agg{})
	if b.Count != 2 {
		t.Error("merging an empty agg changed the count")
	}

	got, ok := decodeAgg(a.encode())
	if !ok || got != a {
		t.Errorf("round trip = %+v, %v; want %+v", got, ok, a)
	}
	if _, ok := decodeAgg([]byte{1, 2}); ok {
		t.Error("decoded a short value")
	}
}

func TestRollupTTL(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		ret, minute, hour time.Duration
	}{
		{7 * day, 28 * day, 364 * day},
		{time.Hour, 4 * time.Hour, 52 * time.Hour},
		{30 * day, 30 * day, 400 * day},
		{90 * day, 90 * day, 400 * day}, // never shorter than raw
		{500 * day, 500 * day, 500 * day},
	}
	for _, tt := range tests {
		if got := minuteTTL(tt.ret); got != tt.minute {
			t.Errorf("minuteTTL(%s) = %s, want %s", tt.ret, got, tt.minute)
		}
		if got := hourTTL(tt.ret); got != tt.hour {
			t.Errorf("hourTTL(%s) = %s, want %s", tt.ret, got, tt.hour)
		}
	}
}

func TestFloorTo(t *testing.T) {
	tests := []struct{ t, w, want int64 }{
		{125_000, 60_000, 120_000},
		{120_000, 60_000, 120_000},
		{-1, 60_000, -60_000},
		{3_599_999, 3_600_000, 0},
	}
	for _, tt := range tests {
		if got := floorTo(tt.t, tt.w); got != tt.want {
			t.Errorf("floorTo(%d, %d) = %d, want %d", tt.t, tt.w, got, tt.want)
		}
	}
}

// fakeDisk is a loadFunc over a map, standing in for Badger.
type fakeDisk map[string]agg

func (d fakeDisk) load(k []byte) (agg, bool, error) {
	a, ok := d[string(k)]
	return a, ok, nil
}

// commit writes what the rollups would write, as the writer does.
func (d fakeDisk) commit(r *rollups, all bool) {
	ks := r.pending(all)
	for _, k := range ks {
		d[string(seriesKey(k.prefix, k.id, k.start))] = r.buckets[k].agg
	}
	r.written(ks)
}

func TestRollupsCloseAndEvict(t *testing.T) {
	disk := fakeDisk{}
	r := newRollups(math.MinInt64)
	add := func(t0 int64, v float64) {
		if err := r.add(minuteLevel, 1, "p", t0, v, time.Hour, disk.load); err != nil {
			t.Fatal(err)
		}
	}
	add(60_000, 1)
	add(70_000, 3)
	if ks := r.pending(false); len(ks) != 0 {
		t.Fatalf("open bucket written without all: %v", ks)
	}
	add(120_000, 10) // opens the next minute: the first one closes
	disk.commit(r, false)
	if got := disk[string(seriesKey(prefixMinute, 1, 60_000))]; got != (agg{Min: 1, Max: 3, Sum: 4, Count: 2}) {
		t.Errorf("closed bucket stored as %+v", got)
	}
	if len(r.buckets) != 1 {
		t.Errorf("%d buckets in memory after eviction, want 1", len(r.buckets))
	}

	// A late sample for the evicted bucket is merged with the stored one.
	add(65_000, -2)
	disk.commit(r, false)
	if got := disk[string(seriesKey(prefixMinute, 1, 60_000))]; got != (agg{Min: -2, Max: 3, Sum: 2, Count: 3}) {
		t.Errorf("late sample: stored %+v", got)
	}

	// Flush writes the open bucket but keeps it; more samples then rewrite
	// it whole, not as a second copy.
	disk.commit(r, true)
	add(130_000, 20)
	disk.commit(r, true)
	if got := disk[string(seriesKey(prefixMinute, 1, 120_000))]; got != (agg{Min: 10, Max: 20, Sum: 30, Count: 2}) {
		t.Errorf("open bucket stored as %+v", got)
	}

	r.closeIdle(120_000 + 2*minuteLevel.width)
	disk.commit(r, false)
	if len(r.buckets) != 0 {
		t.Errorf("%d idle buckets stayed in memory", len(r.buckets))
	}
	// A day later the series is forgotten, but its buckets are still
	// read before they are updated.
	r.closeIdle(120_000 + forgetAfter + 1)
	if len(r.newest) != 0 || r.forgotUpTo != 120_000 {
		t.Errorf("after a day: %d newest, forgotUpTo %d", len(r.newest), r.forgotUpTo)
	}
	add(125_000, 30)
	disk.commit(r, true)
	if got := disk[string(seriesKey(prefixMinute, 1, 120_000))]; got.Count != 3 || got.Max != 30 {
		t.Errorf("sample after forgetting: stored %+v", got)
	}
}

func TestRollupsResumeAfterRestart(t *testing.T) {
	disk := fakeDisk{}
	first := newRollups(math.MinInt64)
	for i, v := range []float64{1, 2, 3} {
		if err := first.add(hourLevel, 5, "p", int64(i)*10_000, v, time.Hour, disk.load); err != nil {
			t.Fatal(err)
		}
	}
	disk.commit(first, true) // Close

	second := newRollups(first.maxT) // a new process, told the high-water mark
	for i, v := range []float64{4, 5} {
		if err := second.add(hourLevel, 5, "p", int64(30_000+i*10_000), v, time.Hour, disk.load); err != nil {
			t.Fatal(err)
		}
	}
	disk.commit(second, true)
	disk.commit(second, true) // a second flush must not count twice
	want := agg{Min: 1, Max: 5, Sum: 15, Count: 5}
	if got := disk[string(seriesKey(prefixHour, 5, 0))]; got != want {
		t.Errorf("bucket after restart = %+v, want %+v", got, want)
	}

	// Buckets newer than anything stored are not looked up at all.
	reads := 0
	counting := func(k []byte) (agg, bool, error) { reads++; return disk.load(k) }
	third := newRollups(second.maxT)
	if err := third.add(hourLevel, 5, "p", hourLevel.width, 1, time.Hour, counting); err != nil {
		t.Fatal(err)
	}
	if err := third.add(hourLevel, 5, "p", 2*hourLevel.width, 1, time.Hour, counting); err != nil {
		t.Fatal(err)
	}
	if reads != 0 {
		t.Errorf("%d disk reads for buckets that cannot be stored", reads)
	}
	// ... but a late one, for a bucket this process may have written, is.
	disk.commit(third, true)
	if err := third.add(hourLevel, 5, "p", hourLevel.width+1, 1, time.Hour, counting); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("%d disk reads for a late sample, want 1", reads)
	}
}

// TestRollupsForget: a removed probe's buckets are written and dropped at
// once, another probe's stay open, and a sample of the forgotten series
// that comes back merges with what was stored instead of overwriting it.
func TestRollupsForget(t *testing.T) {
	disk := fakeDisk{}
	r := newRollups(math.MinInt64)
	for _, s := range []struct {
		id    uint64
		probe string
	}{{1, "gone"}, {2, "gone"}, {3, "kept"}} {
		for _, l := range []level{minuteLevel, hourLevel} {
			if err := r.add(l, s.id, s.probe, 10_000, 2, time.Hour, disk.load); err != nil {
				t.Fatal(err)
			}
		}
	}
	disk.commit(r, false) // nothing closed yet: nothing written
	if ids := r.forget("gone"); len(ids) != 2 || !ids[1] || !ids[2] {
		t.Fatalf("forget returned %v, want series 1 and 2", ids)
	}
	disk.commit(r, false)
	for k, b := range r.buckets {
		if b.probe == "gone" {
			t.Errorf("bucket %+v of the removed probe is still in memory", k)
		}
	}
	if len(r.buckets) != 2 || len(r.newest) != 2 {
		t.Errorf("%d buckets, %d newest in memory, want the kept probe's 2 and 2", len(r.buckets), len(r.newest))
	}
	// The probe is back within the same minute: its bucket continues.
	if err := r.add(minuteLevel, 1, "gone", 20_000, 4, time.Hour, disk.load); err != nil {
		t.Fatal(err)
	}
	disk.commit(r, true)
	if got, want := disk[string(seriesKey(prefixMinute, 1, 0))], (agg{Min: 2, Max: 4, Sum: 6, Count: 2}); got != want {
		t.Errorf("the bucket after the probe came back = %+v, want %+v", got, want)
	}
}
