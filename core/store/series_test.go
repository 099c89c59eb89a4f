package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A probe writing another probe's metric name gets a series of its own:
// nothing it writes lands in the other's history (issue #8, finding 11).
func TestSeriesBelongToTheirProbe(t *testing.T) {
	s := openTest(t, "", Options{})
	t0 := time.Now().Add(-time.Minute)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		s.Put(record("system", at, gauge("system.load.1", 0.5, nil)))
		s.Put(record("evil", at, gauge("system.load.1", 999, nil)))
	}
	mustFlush(t, s)

	got, err := s.Query(Query{Name: "system.load.1", Probe: "system"})
	if err != nil || len(got) != 1 || got[0].Probe != "system" || len(got[0].Points) != 5 {
		t.Fatalf("system's series: %+v, %v", got, err)
	}
	for _, p := range got[0].Points {
		if p.V != 0.5 {
			t.Fatalf("system's history holds %v", p.V)
		}
	}
	all, err := s.Query(Query{Name: "system.load.1"})
	if err != nil || len(all) != 2 || all[0].Probe != "evil" || all[1].Probe != "system" {
		t.Fatalf("both probes' series: %+v, %v", all, err)
	}
	if step, err := s.Query(Query{Name: "system.load.1", Probe: "system", Step: time.Minute}); err != nil || step[0].Points[0].V != 0.5 {
		t.Errorf("system's minute rollup: %+v, %v", step, err)
	}
	list, _, err := s.SeriesList(Match{Probe: "evil"}, "", 0)
	if err != nil || len(list) != 1 || list[0].Probe != "evil" {
		t.Errorf("evil's series: %+v, %v", list, err)
	}
}

// One page holds at most limit series however many there are; the pages
// together hold every series once; a cursor only continues its own
// listing.
func TestSeriesListPages(t *testing.T) {
	s := openTest(t, "", Options{BatchSize: 10_000})
	at := time.Now().Add(-time.Minute)
	for p, probe := range []string{"a", "b"} {
		r := record(probe, at)
		for i := range 1250 {
			r.Report.Gauge("x.v", float64(i), map[string]string{"i": strconv.Itoa(i)})
		}
		r.Report.Gauge("y.v", float64(p), nil)
		s.Put(r)
	}
	mustFlush(t, s)

	collect := func(m Match, limit int) (pages int, seen map[string]int) {
		seen = map[string]int{}
		cursor := ""
		for {
			list, next, err := s.SeriesList(m, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > limit {
				t.Fatalf("page of %d series, limit %d", len(list), limit)
			}
			pages++
			for _, si := range list {
				seen[si.Probe+" "+si.Name+" "+si.Labels["i"]]++
			}
			if next == "" {
				return pages, seen
			}
			cursor = next
		}
	}
	pages, seen := collect(Match{}, 1000)
	if len(seen) != 2502 || pages != 3 {
		t.Errorf("%d distinct series in %d pages, want 2502 in 3", len(seen), pages)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s listed %d times", k, n)
		}
	}
	if _, seen := collect(Match{Name: "x.v", Probe: "b"}, 100); len(seen) != 1250 {
		t.Errorf("x.v of b: %d series", len(seen))
	}
	if _, seen := collect(Match{Probe: "a"}, 7); len(seen) != 1251 {
		t.Errorf("probe a: %d series", len(seen))
	}
	if list, next, _ := s.SeriesList(Match{Name: "y.v"}, "", 2); len(list) != 2 || next != "" {
		t.Errorf("an exact last page must have no next cursor: %d series, next %q", len(list), next)
	}

	_, next, err := s.SeriesList(Match{Name: "x.v"}, "", 10)
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	for _, tt := range []struct {
		m      Match
		cursor string
	}{
		{Match{Name: "y.v"}, next},              // another name's listing
		{Match{Name: "x.v", Probe: "b"}, next},  // another probe's
		{Match{}, "not base64!"},                // garbage
		{Match{}, "AAAA"},                       // base64, not a key
		{Match{}, strings.Repeat("A", 100_000)}, // too long to be one
	} {
		if _, _, err := s.SeriesList(tt.m, tt.cursor, 10); !errors.Is(err, ErrBadCursor) {
			t.Errorf("SeriesList(%+v, %.20q...) = %v, want ErrBadCursor", tt.m, tt.cursor, err)
		}
	}
	// A cursor of the unfiltered listing is good for the listing of a probe
	// (it is only a position).
	if _, _, err := s.SeriesList(Match{Probe: "b"}, next, 10); err != nil {
		t.Errorf("cursor of a name's listing in the probe's: %v", err)
	}
}

// A query matching more than MaxSeries fails before reading any point.
func TestQueryMaxSeries(t *testing.T) {
	s := openTest(t, "", Options{})
	r := record("p", time.Now().Add(-time.Minute))
	for i := range 30 {
		r.Report.Gauge("p.v", 1, map[string]string{"i": strconv.Itoa(i)})
	}
	s.Put(r)
	mustFlush(t, s)
	if got, err := s.Query(Query{Name: "p.v", MaxSeries: 30}); err != nil || len(got) != 30 {
		t.Errorf("30 series under a limit of 30: %d, %v", len(got), err)
	}
	calls := 0
	err := s.QueryEach(Query{Name: "p.v", MaxSeries: 29}, func(Series) error { calls++; return nil })
	if !errors.Is(err, ErrTooManySeries) || calls != 0 || !strings.Contains(err.Error(), "more than 29") {
		t.Errorf("30 series under a limit of 29: %v after %d series", err, calls)
	}
	if got, err := s.Query(Query{MaxSeries: 100}); err != nil || len(got) != 30 {
		t.Errorf("every series: %d, %v", len(got), err)
	}
	stop := errors.New("stop")
	calls = 0
	if err := s.QueryEach(Query{Name: "p.v"}, func(Series) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("QueryEach did not end at fn's error: %v after %d", err, calls)
	}
}

// FuzzCursor: decoding never panics, accepts only index keys under the
// listing's prefix, and every cursor the store makes decodes to its key.
func FuzzCursor(f *testing.F) {
	k := indexKey("system.load.1", "system", 0x00ff00ff00ff00ff)
	f.Add(encodeCursor(k), "system.load.1", "system")
	f.Add(encodeCursor(k), "system.load.1", "")
	f.Add(encodeCursor(k), "", "")
	f.Add(encodeCursor(k), "other", "")
	f.Add("", "", "")
	f.Add("AAAA", "", "")
	f.Add("____", "x", "y")
	f.Add(encodeCursor(indexKey("a", "", 0)), "a", "")
	f.Fuzz(func(t *testing.T, c, name, probe string) {
		m := Match{Name: name, Probe: probe}
		key, err := decodeCursor(c, m)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v does not wrap ErrBadCursor", err)
			}
			return
		}
		if c == "" {
			if key != nil {
				t.Fatal("empty cursor gave a key")
			}
			return
		}
		n, p, _, ok := parseIndexKey(key)
		if !ok {
			t.Fatalf("decoded %q is not an index key", key)
		}
		if name != "" && n != name || name != "" && probe != "" && p != probe {
			t.Fatalf("cursor for %q/%q accepted in the listing of %q/%q", n, p, name, probe)
		}
		if again := encodeCursor(key); again != c {
			t.Fatalf("round trip: %q -> %q", c, again)
		}
	})
}

func ExampleStore_SeriesList() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)
	s, _ := Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	r := record("system", time.Now())
	for _, cpu := range []string{"0", "1", "2"} {
		r.Report.Gauge("system.cpu.percent", 1, map[string]string{"cpu": cpu})
	}
	s.Put(r)
	_ = s.Flush()
	cursor := ""
	for {
		page, next, err := s.SeriesList(Match{Probe: "system"}, cursor, 2)
		if err != nil {
			return
		}
		fmt.Println(len(page), "series")
		if next == "" {
			break
		}
		cursor = next
	}
	// Output:
	// 2 series
	// 1 series
}
