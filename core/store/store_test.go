package store

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/barbossa-agent/barbossa/sdk"
)

func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open with no dir succeeded")
	}
}

// TestLatestStale checks both paths on a fake clock: the in-memory copy of
// a Put, and the persisted key read after a restart. Badger reads its TTL
// clock through time.Now, which the bubble fakes too, so both edges are
// exact: in memory at Time+StaleAfter, on disk at that rounded up to Badger's
// whole seconds.
func TestLatestStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, dir, Options{})
		time.Sleep(500 * time.Millisecond) // off the whole second, to see the rounding
		start := time.Now()
		rec := record("fast", start, gauge("fast.v", 1, nil))
		rec.StaleAfter = time.Second
		s.Put(rec)
		cold := rec
		cold.Probe = "cold" // first read after its expiry: Badger's own TTL hides it
		s.Put(cold)
		slow := record("slow", start, gauge("slow.v", 2, nil))
		slow.StaleAfter = 2 * time.Second
		slow.Report.Message = "kept"
		s.Put(slow)
		s.Put(record("forever", start)) // StaleAfter 0: never stale

		if got, ok, err := s.Latest("fast"); err != nil || !ok || got.Report.Metrics[0].Value != 1 {
			t.Fatalf("Latest(fast) = %+v, %v, %v", got, ok, err)
		}
		if _, ok, err := s.Latest("missing"); err != nil || ok {
			t.Fatalf("Latest(missing) = %v, %v; want false, nil", ok, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = openTest(t, dir, Options{}) // Latest now comes from disk
		got, ok, err := s.Latest("slow")
		if err != nil || !ok {
			t.Fatalf("Latest(slow) after restart = %v, %v", ok, err)
		}
		if got.Probe != "slow" || got.Report.Message != "kept" || !got.Time.Equal(start) {
			t.Errorf("Latest(slow) after restart = %+v", got)
		}

		// fresh reports whether probe's latest report is there at start+at.
		fresh := func(probe string, at time.Duration) bool {
			t.Helper()
			time.Sleep(time.Until(start.Add(at)))
			_, ok, err := s.Latest(probe)
			if err != nil {
				t.Fatalf("Latest(%s) at %s: %v", probe, at, err)
			}
			return ok
		}
		// From disk the 1 s StaleAfter of a report put at 0.5 s lasts until
		// 2 s, not 1.5 s (Badger rounds expiry up to the next whole second),
		// and the 2 s one until 3 s.
		for _, c := range []struct {
			probe string
			at    time.Duration // after the Put
			want  bool
		}{
			{"fast", time.Second, true},
			{"fast", 1500*time.Millisecond - time.Nanosecond, true},
			{"fast", 1500 * time.Millisecond, false},
			{"cold", 1500 * time.Millisecond, false},
			{"slow", 2500*time.Millisecond - time.Nanosecond, true},
			{"slow", 2500 * time.Millisecond, false},
			{"forever", time.Hour, true},
		} {
			if got := fresh(c.probe, c.at); got != c.want {
				t.Errorf("Latest(%s) at %s after the put: fresh %v, want %v", c.probe, c.at, got, c.want)
			}
		}

		// The in-memory path: a Put after the restart is fresh up to
		// Time+StaleAfter and stale just after, as the scheduler's health
		// turns stale, so both flip at one instant.
		rec.Time = time.Now()
		s.Put(rec)
		time.Sleep(rec.StaleAfter)
		if _, ok, _ := s.Latest("fast"); !ok {
			t.Fatal("fresh Put not visible at its StaleAfter")
		}
		time.Sleep(time.Nanosecond)
		if _, ok, _ := s.Latest("fast"); ok {
			t.Error("in-memory latest did not go stale just after its StaleAfter")
		}
	})
}

// TestRestartKeepsHistory puts samples into one minute (and one hour)
// bucket across two runs of the store and checks that raw samples survive
// and the rollup holds each sample exactly once.
func TestRestartKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	t0 := hourAgo(2)
	labels := map[string]string{"mount": "/"}
	put := func(s *Store, from, to int) {
		for i := from; i <= to; i++ {
			s.Put(record("p", t0.Add(time.Duration(i)*10*time.Second), gauge("p.disk", float64(i), labels)))
		}
	}

	s := openTest(t, dir, Options{})
	put(s, 1, 3) // 3 samples in minute 0
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	put(s, 4, 5) // 2 more in the same minute, after the restart
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})

	q := Query{Name: "p.disk", Labels: labels, From: t0, To: t0.Add(time.Hour)}
	raw, err := s.Query(q)
	if err != nil || len(raw) != 1 || len(raw[0].Points) != 5 {
		t.Fatalf("raw after restart = %+v, %v; want 5 points", raw, err)
	}
	for _, step := range []time.Duration{time.Minute, time.Hour} {
		q.Step = step
		got, err := s.Query(q)
		if err != nil || len(got) != 1 || len(got[0].Points) != 1 {
			t.Fatalf("step %s: %+v, %v; want 1 point", step, got, err)
		}
		if p := got[0].Points[0]; p.T != t0.UnixMilli() || p.V != 3 {
			t.Errorf("step %s: point %v, want [%d, 3]", step, p, t0.UnixMilli())
		}
	}
	// Counted once each: 5 samples, min 1, max 5.
	id := seriesID("p", "p.disk", labels)
	for _, l := range levels {
		a := readAgg(t, s, seriesKey(l.prefix, id, t0.UnixMilli()))
		if want := (agg{Min: 1, Max: 5, Sum: 15, Count: 5}); a != want {
			t.Errorf("%c bucket = %+v, want %+v", l.prefix, a, want)
		}
	}
	list, _, err := s.SeriesList(Match{}, "", 0)
	if err != nil || len(list) != 1 || list[0].Labels["mount"] != "/" || list[0].Probe != "p" {
		t.Errorf("SeriesList after restart = %+v, %v", list, err)
	}
}

func readAgg(t *testing.T, s *Store, key []byte) agg {
	t.Helper()
	var a agg
	err := s.read(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			a, _ = decodeAgg(v)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("read rollup %x: %v", key, err)
	}
	return a
}

func TestRetentionTTL(t *testing.T) {
	s := openTest(t, "", Options{Retention: time.Hour})
	now := time.Now()
	old := record("p", now.Add(-2*time.Hour), gauge("p.v", 1, nil)) // past the 1 h default
	s.Put(old)
	kept := record("p", now.Add(-2*time.Hour), gauge("p.w", 1, nil))
	kept.Retention = 3 * time.Hour // a per-probe retention wins
	s.Put(kept)
	s.Put(record("p", now.Add(-time.Minute), gauge("p.v", 2, nil)))
	mustFlush(t, s)

	got, err := s.Query(Query{Name: "p.v", From: now.Add(-3 * time.Hour), To: now})
	if err != nil || len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].V != 2 {
		t.Errorf("p.v = %+v, %v; want only the fresh sample", got, err)
	}
	// Minute rollups live 4x longer: the old sample is still there.
	got, err = s.Query(Query{Name: "p.v", From: now.Add(-3 * time.Hour), To: now, Step: time.Minute})
	if err != nil || len(got) != 1 || len(got[0].Points) != 2 {
		t.Errorf("p.v by minute = %+v, %v; want 2 points", got, err)
	}
	got, err = s.Query(Query{Name: "p.w", From: now.Add(-3 * time.Hour), To: now})
	if err != nil || len(got) != 1 || len(got[0].Points) != 1 {
		t.Errorf("p.w = %+v, %v; want the sample kept by its own retention", got, err)
	}
}

func TestNonFiniteValuesSkipped(t *testing.T) {
	s := openTest(t, "", Options{})
	at := time.Now().Add(-time.Minute)
	s.Put(record("p", at, gauge("p.v", 1, nil)))
	s.Put(record("p", at.Add(time.Second), gauge("p.v", nan(), nil)))
	mustFlush(t, s)
	got, err := s.Query(Query{Name: "p.v", Step: time.Minute})
	if err != nil || len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].V != 1 {
		t.Errorf("got %+v, %v; want the NaN left out", got, err)
	}
}

func TestFlushByIntervalAndBatchSize(t *testing.T) {
	// visible reports whether name's samples are committed, once the writer
	// has done what it can at this instant of the bubble's clock.
	visible := func(t *testing.T, s *Store, name string) bool {
		t.Helper()
		synctest.Wait()
		got, err := s.Query(Query{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 1
	}
	t.Run("interval", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := openTest(t, "", Options{FlushInterval: 50 * time.Millisecond})
			time.Sleep(20 * time.Millisecond)
			s.Put(record("p", time.Now(), gauge("p.v", 1, nil)))
			// A batch is committed 50 ms after its first sample came: no
			// ticker wakes an idle writer.
			time.Sleep(30 * time.Millisecond)
			s.Put(record("p", time.Now(), gauge("p.w", 1, nil)))
			time.Sleep(20*time.Millisecond - time.Nanosecond)
			if visible(t, s, "p.v") || visible(t, s, "p.w") {
				t.Error("samples committed before the flush interval")
			}
			time.Sleep(time.Nanosecond)
			if !visible(t, s, "p.v") || !visible(t, s, "p.w") {
				t.Error("samples not committed at the flush interval")
			}
			// The next sample starts a batch of its own.
			time.Sleep(time.Second)
			s.Put(record("p", time.Now(), gauge("p.x", 1, nil)))
			time.Sleep(50*time.Millisecond - time.Nanosecond)
			if visible(t, s, "p.x") {
				t.Error("the next batch was committed early")
			}
			time.Sleep(time.Nanosecond)
			if !visible(t, s, "p.x") {
				t.Error("the next batch was not committed at its flush interval")
			}
		})
	})
	// A Flush commits what the timer was set for, and the timer is stopped:
	// the writer of an idle store neither wakes nor looks at the disk (a
	// look while another process fills the disk stopped the store in the
	// middle of the fill, and Badger's close flush then met a full disk).
	t.Run("flush disarms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := openTest(t, "", Options{FlushInterval: 50 * time.Millisecond})
			s.Put(record("p", time.Now(), gauge("p.v", 1, nil)))
			mustFlush(t, s)
			synctest.Wait()
			const unseen = 1 // every commit of a writing store records the free space it saw
			s.space.mu.Lock()
			s.space.free = unseen
			s.space.mu.Unlock()
			time.Sleep(10 * time.Second) // well past the flush interval, short of the rollup checkpoint
			synctest.Wait()
			s.space.mu.Lock()
			free := s.space.free
			s.space.mu.Unlock()
			if free != unseen {
				t.Errorf("the writer committed after a Flush left nothing to commit (it read %d bytes free)", free)
			}
		})
	})
	t.Run("batch size", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := openTest(t, "", Options{FlushInterval: time.Hour, BatchSize: 10})
			var ms []sdk.Metric
			for i := range 9 {
				ms = append(ms, gauge(fmt.Sprintf("p.v%d", i), 1, nil))
			}
			s.Put(record("p", time.Now(), ms...))
			if visible(t, s, "p.v8") {
				t.Error("9 samples of a batch of 10 were committed before the interval")
			}
			s.Put(record("p", time.Now(), gauge("p.v9", 1, nil)))
			if !visible(t, s, "p.v9") {
				t.Error("a full batch was not committed at once")
			}
		})
	})
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Put(record("p", time.Now(), gauge("p.v", 1, nil)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	s.Put(record("p", time.Now(), gauge("p.v", 1, nil))) // must not panic
	s.AddEvent(Event{Message: "late"})
	if err := s.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Query(Query{Name: "p.v"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Events(time.Time{}, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after Close = %v, want ErrClosed", err)
	}
	if s.dropped.Load() != 2 {
		t.Errorf("dropped = %d, want 2", s.dropped.Load())
	}
}

// TestConcurrentPutAndQuery is for -race: writers and readers at once, and
// then every sample must be there.
func TestConcurrentPutAndQuery(t *testing.T) {
	s := openTest(t, "", Options{FlushInterval: 10 * time.Millisecond, BatchSize: 50})
	const writers, perWriter, metrics = 4, 200, 5
	t0 := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			probe := fmt.Sprintf("p%d", w)
			for i := range perWriter {
				r := record(probe, t0.Add(time.Duration(i)*time.Second))
				for m := range metrics {
					r.Report.Gauge("c.v", float64(i), map[string]string{"w": probe, "m": fmt.Sprint(m)})
				}
				r.Report.Add(sdk.Entity{Kind: "k", ID: "e", State: fmt.Sprint(i % 3), Health: sdk.StatusOK})
				s.Put(r)
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Query(Query{Name: "c.v", Labels: map[string]string{"m": "1"}, Step: time.Minute}); err != nil {
					t.Error(err)
				}
				if _, _, err := s.SeriesList(Match{}, "", 0); err != nil {
					t.Error(err)
				}
				if _, _, err := s.Latest("p1"); err != nil {
					t.Error(err)
				}
				if _, err := s.Events(time.Time{}, 10); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	mustFlush(t, s)

	got, err := s.Query(Query{Name: "c.v", From: t0, To: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*metrics {
		t.Fatalf("%d series, want %d", len(got), writers*metrics)
	}
	for _, se := range got {
		if len(se.Points) != perWriter {
			t.Errorf("%v: %d points, want %d", se.Labels, len(se.Points), perWriter)
		}
	}
	if d := s.dropped.Load(); d != 0 {
		t.Errorf("%d records dropped", d)
	}
}

func nan() float64 { return math.NaN() }

// TestNextStale: the instant the next served report turns stale, exactly,
// so the agent's watcher sleeps until then and no longer.
func TestNextStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openTest(t, "", Options{})
		start := time.Now()
		if next := s.NextStale(start); !next.IsZero() {
			t.Fatalf("empty store: NextStale = %v", next)
		}
		a := record("a", start)
		a.StaleAfter = 3 * time.Second
		b := record("b", start)
		b.StaleAfter = time.Second
		s.Put(a)
		s.Put(b)
		s.Put(record("forever", start))
		// Stale just after Time+StaleAfter.
		for _, c := range []struct{ at, want time.Duration }{
			{0, time.Second + 1}, {time.Second, time.Second + 1}, {time.Second + 1, 3*time.Second + 1}, {3*time.Second + 1, -1},
		} {
			want := time.Time{}
			if c.want >= 0 {
				want = start.Add(c.want)
			}
			if got := s.NextStale(start.Add(c.at)); !got.Equal(want) {
				t.Errorf("NextStale at %s = %v, want %v", c.at, got.Sub(start), c.want)
			}
		}
	})
}
