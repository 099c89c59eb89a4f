package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// TestCompactionWindows writes ~25 MiB, as fast as it goes, through a
// store that runs without Badger's compactors. Without windows the writes
// would hang once level 0 reached Badger's stall (nothing would compact
// it); with them they finish, windows open and close again, and every
// sample is still there afterwards, across a restart too.
func TestCompactionWindows(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{BatchSize: 500, FlushInterval: 10 * time.Millisecond})
	if s.compactors != 0 {
		t.Fatalf("opened with %d compactors", s.compactors)
	}
	const reports, metrics, probes = 3000, 20, 30
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	message := strings.Repeat("m", 8<<10) // the latest report is written whole: it fills memtables fast
	maxL0 := 0
	for i := range reports {
		var ms []sdk.Metric
		for m := range metrics {
			ms = append(ms, gauge(fmt.Sprintf("c.m%02d", m), float64(i), map[string]string{"p": fmt.Sprint(i % probes)}))
		}
		r := record(fmt.Sprintf("p%d", i%probes), start.Add(time.Duration(i/probes)*time.Second), ms...)
		r.Report.Message = message
		s.Put(r)
		if i%100 == 99 {
			mustFlush(t, s)
			n, err := s.LevelZeroTables()
			if err != nil {
				t.Fatal(err)
			}
			maxL0 = max(maxL0, n)
		}
	}
	mustFlush(t, s)
	// Windows close once the levels settle (the writer checks every second
	// while one is open). A fake clock cannot serve: Badger's compactors
	// run on real time in their own goroutines.
	deadline := time.Now().Add(time.Minute)
	for s.compactingNow() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if s.compactingNow() {
		t.Fatal("the compaction window is still open after a minute")
	}
	if w := s.CompactionWindows(); w < 2 || w%2 != 0 {
		t.Errorf("%d reopens: want windows opened and closed", w)
	}
	check := func(s *Store) {
		t.Helper()
		for _, p := range []string{"0", "17"} {
			got, err := s.Query(Query{Name: "c.m07", Labels: map[string]string{"p": p}, From: start.Add(-time.Minute), To: time.Now()})
			if err != nil || len(got) != 1 || len(got[0].Points) != reports/probes {
				t.Fatalf("series p=%s: %d series, %v", p, len(got), err)
			}
		}
		if rec, ok, err := s.Latest("p5"); err != nil || !ok || rec.Report.Message != message {
			t.Errorf("latest report: %v %v", ok, err)
		}
	}
	check(s)
	t.Logf("max level 0 tables %d, %d reopens", maxL0, s.CompactionWindows())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir, Options{}))
}

// TestHugeCommitDoesNotStall: one commit far larger than level 0's room
// (a checkpoint writing the open rollup buckets of a series explosion:
// 180,000 series, 360,000 buckets) must not wait for compactors that are
// not running. Badger stalled it at its level-0 limit, forever: only the
// writer opens a compaction window, and it was the one waiting, so every
// later write and Flush hung.
func TestHugeCommitDoesNotStall(t *testing.T) {
	s := openTest(t, "", Options{BatchSize: 1 << 30, FlushInterval: time.Hour})
	const reports, metrics = 150, 1000
	at := time.Now().Truncate(time.Minute)
	for i := range reports {
		ms := make([]sdk.Metric, metrics)
		for m := range ms {
			ms[m] = gauge("explode.m", float64(m), map[string]string{"run": fmt.Sprint(i), "m": fmt.Sprint(m)})
		}
		s.Put(record("explode", at, ms...))
	}
	done := make(chan error, 1)
	go func() { done <- s.Flush() }()
	// A fake clock cannot serve: the stall is in Badger's own goroutines,
	// which wait on real time and on each other.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		n, _ := s.LevelZeroTables()
		t.Fatalf("Flush has not returned after 3 minutes: level 0 holds %d tables, and no compactor runs", n)
	}
	n, err := s.LevelZeroTables()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one commit of %d series left %d tables in level 0", reports*metrics, n)
	if n <= numLevelZeroTablesStall {
		t.Errorf("level 0 holds %d tables: the commit was not larger than Badger's stall (%d), so this test shows nothing", n, numLevelZeroTablesStall)
	}
	// The Flush opened a compaction window, which brings level 0 back and
	// closes (real time again: Badger's compactors).
	deadline := time.Now().Add(2 * time.Minute)
	for (s.CompactionWindows() < 2 || s.compactingNow()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // Badger's compactors work on real time
	}
	n, err = s.LevelZeroTables()
	if err != nil {
		t.Fatal(err)
	}
	if w := s.CompactionWindows(); w < 2 || s.compactingNow() || n >= numLevelZeroTablesStall {
		t.Errorf("after the Flush: %d reopens, window open %v, %d tables in level 0; want a window opened and closed, level 0 under %d", w, s.compactingNow(), n, numLevelZeroTablesStall)
	}
}

// TestForgetARemovedProbe goes through the writer: after Forget, nothing of
// the probe's series is kept in memory, its samples are still stored, and
// the other probe's open buckets and index are untouched.
func TestForgetARemovedProbe(t *testing.T) {
	s := openTest(t, "", Options{BatchSize: 1 << 20, FlushInterval: time.Hour})
	at := time.Now()
	for _, probe := range []string{"gone", "kept"} {
		var ms []sdk.Metric
		for m := range 100 {
			ms = append(ms, gauge("x.m", float64(m), map[string]string{"m": fmt.Sprint(m)}))
		}
		s.Put(record(probe, at, ms...))
	}
	mustFlush(t, s)
	count := func() (buckets map[string]int, indexed int) {
		buckets = map[string]int{}
		for _, b := range s.w.roll.buckets {
			buckets[b.probe]++
		}
		return buckets, len(s.w.indexed)
	}
	if b, n := count(); b["gone"] != 200 || b["kept"] != 200 || n != 200 {
		t.Fatalf("before: buckets %v, %d indexed; want 200 each (minute and hour), 200 indexed", b, n)
	}
	s.Forget("gone")
	mustFlush(t, s) // after the Forget: the writer's state is settled
	if b, n := count(); b["gone"] != 0 || b["kept"] != 200 || n != 100 {
		t.Errorf("after Forget: buckets %v, %d indexed; want none of gone's, kept's 200, 100 indexed", b, n)
	}
	series, _, err := s.SeriesList(Match{Probe: "gone"}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 100 {
		t.Errorf("%d series of the removed probe stored, want its 100", len(series))
	}
}
