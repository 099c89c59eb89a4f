package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRound measures one round of 10 probes that each collect for 1 s
// (honouring their context), with 10, 4 (the original agent's pool) and 1
// workers, and reports s/round. The 1-worker case takes ~10 s per iteration,
// so it is not part of the default test run:
//
//	go test ./core/scheduler -run '^$' -bench Round -benchtime 1x
func BenchmarkRound(b *testing.B) {
	for _, workers := range []int{10, 4, 1} {
		b.Run(fmt.Sprintf("probes=10/sleep=1s/workers=%d", workers), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				total += round(b, 10, workers, time.Second)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/round")
		})
	}
}

// BenchmarkOverhead is the scheduler's own cost: a round of 1000 probes that
// return at once, on the default worker count.
//
//	go test ./core/scheduler -run '^$' -bench Overhead
func BenchmarkOverhead(b *testing.B) {
	const n = 1000
	for b.Loop() {
		done := make(chan Result, n)
		s := New(Options{OnResult: func(r Result) { done <- r }, Logger: quiet()})
		for i := range n {
			if err := s.Add(Job{Name: fmt.Sprint(i), Collector: ok, Interval: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
		s.Start(context.Background())
		for range n {
			<-done
		}
		s.Stop()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/run")
}
