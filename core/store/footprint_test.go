package store

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFootprint writes samples and reports throughput and the process's
// resident set size. It measures rather than asserts, and needs a process of
// its own to mean anything, so it runs only when asked:
//
//	BARBOSSA_FOOTPRINT=paced go test -run TestFootprint -count=1 -v ./core/store
//
// "paced" writes a million samples (10,000 reports of 100 series, 10 s
// apart in sample time) and flushes every 10 reports, so the queue stays
// short as in the agent; "burst" puts them as fast as it can, so the queue
// fills (1024 reports of 100 metrics are ~30 MB on their own); "steady"
// puts 3 reports of 100 metrics a second for 30 s, an agent's real pace.
func TestFootprint(t *testing.T) {
	mode := os.Getenv("BARBOSSA_FOOTPRINT")
	if mode == "" {
		t.Skip("set BARBOSSA_FOOTPRINT=paced or burst to measure")
	}
	reports, metrics := 10_000, 100
	s := openTest(t, "", Options{})
	t0 := time.Now().Add(-time.Duration(reports) * 10 * time.Second)
	var tick *time.Ticker
	if mode == "steady" {
		reports = 90
		t0 = time.Now()
		tick = time.NewTicker(time.Second / 3)
		defer tick.Stop()
	}
	rss0 := rssKB()
	peak := 0
	start := time.Now()
	for i := range reports {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		if tick != nil {
			at = <-tick.C
		}
		r := record("system", at)
		for m := range metrics {
			r.Report.Gauge("system.metric", float64(i+m), map[string]string{"n": strconv.Itoa(m)})
		}
		s.Put(r)
		if mode == "paced" && i%10 == 9 {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if i%1000 == 999 {
			peak = max(peak, rssKB())
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rss1 := rssKB()
	peak = max(peak, rss1)
	got, err := s.Query(Query{Name: "system.metric", Labels: map[string]string{"n": "5"}, From: t0.Add(-time.Second)})
	if err != nil || len(got) != 1 || len(got[0].Points) != reports {
		t.Fatalf("query after load: %d series, %v", len(got), err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%s: %d samples in %s: %.0f samples/s, dropped %d", mode, reports*metrics, took.Round(time.Millisecond),
		float64(reports*metrics)/took.Seconds(), s.dropped.Load())
	t.Logf("RSS MB: before %d, after writes %d (peak seen %d), after query+GC %d (anon %d, file %d); Go heap in use %d MB, sys %d MB",
		rss0>>10, rss1>>10, peak>>10, rssKB()>>10, procStatusKB("RssAnon")>>10, procStatusKB("RssFile")>>10, ms.HeapInuse>>20, ms.Sys>>20)
}

// rssKB is this process's resident set size in KiB (Linux; 0 elsewhere).
func rssKB() int { return procStatusKB("VmRSS") }

// procStatusKB reads one "Name: N kB" field of /proc/self/status.
func procStatusKB(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
