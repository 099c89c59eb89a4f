package store

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// BenchmarkPut measures batched write throughput end to end: Put of records
// of 100 metrics each (about what the system probe reports), every one
// committed with its rollups and index by the final Flush.
func BenchmarkPut(b *testing.B) {
	for _, metrics := range []int{10, 100} {
		b.Run(fmt.Sprintf("metrics=%d", metrics), func(b *testing.B) {
			s := openTest(b, "", Options{Retention: 30 * 24 * time.Hour})
			recs := make([]Record, 64)
			for i := range recs {
				recs[i] = record("bench", time.Time{})
				for m := range metrics {
					recs[i].Report.Gauge("bench.metric", float64(i*m), map[string]string{"n": strconv.Itoa(m)})
				}
			}
			t0 := time.Now().Add(-time.Duration(b.N) * 10 * time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := recs[i%len(recs)]
				r.Time = t0.Add(time.Duration(i) * 10 * time.Second)
				s.Put(r)
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if d := s.dropped.Load(); d != 0 {
				b.Fatalf("%d records dropped", d)
			}
			// RSS is measured by TestFootprint, in a process of its own.
			b.ReportMetric(float64(b.N*metrics)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkQuery24h reads 24 h of one series sampled every 10 s (8640
// points), among 20 other series: raw, and from minute rollups at 5 m.
func BenchmarkQuery24h(b *testing.B) {
	s := openTest(b, "", Options{BatchSize: 10_000})
	end := time.Now()
	start := end.Add(-24 * time.Hour)
	for i := range 8640 {
		r := record("bench", start.Add(time.Duration(i)*10*time.Second))
		for n := range 21 {
			r.Report.Gauge("bench.load", float64(i%100+n), map[string]string{"n": strconv.Itoa(n)})
		}
		s.Put(r)
	}
	mustFlush(b, s)

	for _, tc := range []struct {
		name string
		step time.Duration
		want int
	}{
		{"raw", 0, 8640},
		{"step=5m", 5 * time.Minute, 288},
	} {
		b.Run(tc.name, func(b *testing.B) {
			q := Query{Name: "bench.load", Labels: map[string]string{"n": "7"}, From: start, To: end, Step: tc.step}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				got, err := s.Query(q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(got[0].Points)
			}
			if n < tc.want || n > tc.want+1 { // +1: a partial bucket at the edge
				b.Fatalf("%d points, want %d", n, tc.want)
			}
			b.ReportMetric(float64(n), "points/op")
		})
	}
}

// BenchmarkLatest reads a probe's latest report (100 metrics, 20 entities):
// from disk (the first read after a restart), cached after that read, and
// as put (the copy every Put leaves).
func BenchmarkLatest(b *testing.B) {
	dir := b.TempDir()
	rec := record("system", time.Now())
	for m := range 100 {
		rec.Report.Gauge("system.metric", float64(m), map[string]string{"n": strconv.Itoa(m)})
	}
	for e := range 20 {
		rec.Report.Add(sdk.Entity{Kind: "service", ID: strconv.Itoa(e), State: "running", Health: sdk.StatusOK})
	}
	rec.StaleAfter = time.Hour
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	s.Put(rec)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}

	read := func(b *testing.B, s *Store) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := s.Latest("system"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	}
	b.Run("disk", func(b *testing.B) {
		s := openTest(b, dir, Options{})
		b.ReportAllocs()
		for b.Loop() {
			clear(s.latest) // every read goes to Badger and decodes
			if _, ok, err := s.Latest("system"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) { read(b, openTest(b, dir, Options{})) })
	b.Run("put", func(b *testing.B) {
		s := openTest(b, dir, Options{})
		s.Put(rec)
		read(b, s)
	})
}
