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
