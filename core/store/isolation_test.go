package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A metric name over Badger's key limit, put straight into the store (the
// agent's limits drop it before; the store does not count on that), costs
// that sample and nothing else: other probes' samples in the same batch
// are written (issue #8, finding 3).
func TestOversizedKeyCostsOnlyItsSample(t *testing.T) {
	var logs strings.Builder
	s := openTest(t, "", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t0 := time.Now().Add(-time.Minute)
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Second)
		s.Put(record("system", at, gauge("system.load.1", float64(i), nil)))
		s.Put(record("evil", at, gauge(strings.Repeat("x", 70_000), 1, nil), gauge("evil.ok", 2, nil)))
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	got, err := s.Query(Query{Name: "system.load.1", Probe: "system"})
	if err != nil || len(got) != 1 || len(got[0].Points) != 20 {
		t.Fatalf("system.load.1: %+v, %v; want all 20 points", got, err)
	}
	if got, _ := s.Query(Query{Name: "evil.ok"}); len(got) != 1 || len(got[0].Points) != 20 {
		t.Errorf("the bad probe's good metric lost points: %+v", got)
	}
	if d := s.Drops("evil"); d[DropWriteError] != 20 {
		t.Errorf("evil's drops = %v, want 20 write errors", d)
	}
	if d := s.Drops("system"); d != nil {
		t.Errorf("system lost %v", d)
	}
	if strings.Contains(logs.String(), "samples lost") {
		t.Errorf("a batch was lost:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "store refused a write"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
	}
}

// A batch that Badger fails as a whole is written again one probe at a
// time, then one entry at a time: only the entry that fails alone is lost.
func TestFailedBatchIsRetriedPerProbe(t *testing.T) {
	s := openTest(t, "", Options{})
	poison := errors.New("poisoned entry in batch")
	real := s.w.flush
	batches := 0
	s.w.flush = func(b []owned) error {
		batches++
		for _, o := range b {
			if v, _ := decodeFloat(o.e.Value); bytes.HasPrefix(o.e.Key, []byte{prefixSample}) && o.probe == "evil" && v == 13 {
				return poison
			}
		}
		return real(b)
	}
	t0 := hourAgo(1).Add(time.Minute) // one hour bucket
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		s.Put(record("system", at, gauge("system.load.1", float64(i), nil)))
		s.Put(record("evil", at, gauge("evil.v", float64(i), nil), gauge("evil.w", 0, nil)))
	}
	s.Put(record("evil", t0.Add(10*time.Second), gauge("evil.v", 13, nil)))
	err := s.Flush()
	if !errors.Is(err, poison) {
		t.Errorf("Flush = %v, want the entry's error", err)
	}
	if batches < 3 {
		t.Errorf("%d batches written: the failed one was not retried", batches)
	}
	if got, _ := s.Query(Query{Name: "system.load.1", From: t0}); len(got) != 1 || len(got[0].Points) != 10 {
		t.Errorf("system.load.1: %+v, want 10 points", got)
	}
	if got, _ := s.Query(Query{Name: "evil.v", From: t0}); len(got) != 1 || len(got[0].Points) != 10 {
		t.Errorf("evil.v: %+v, want its 10 good points", got)
	}
	if d := s.Drops("evil"); d[DropWriteError] != 1 {
		t.Errorf("evil's drops = %v, want one write error", d)
	}
	if d := s.Drops("system"); d != nil {
		t.Errorf("system lost %v", d)
	}
	// The rollups hold the lost sample: only its raw entry failed.
	if got, _ := s.Query(Query{Name: "evil.v", From: t0, Step: time.Hour}); len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].V != (45.0+13)/11 {
		t.Errorf("evil.v's hour rollup: %+v", got)
	}
}
