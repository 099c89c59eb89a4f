package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Point is one value at a time.
type Point struct {
	T int64 // unix ms
	V float64
}

// Series is the answer for one series of a query.
type Series struct {
	Probe  string
	Name   string
	Labels map[string]string
	Points []Point
}

// Match selects series. A series belongs to the probe that reported it:
// two probes reporting the same name and labels have two series, which
// no match merges.
type Match struct {
	Name   string            // "" matches every name
	Probe  string            // "" matches every probe
	Labels map[string]string // subset match; a label asked as "" also matches its absence
}

// Query asks for the series that Name, Probe and Labels match (as a Match
// does) between From and To (both inclusive; zero From means everything
// kept, zero To means now). Step 0 returns raw samples; a Step averages the
// points of each Step-wide bucket (aligned to the unix epoch) into one point
// at the bucket's start.
type Query struct {
	Name   string
	Probe  string
	Labels map[string]string
	From   time.Time
	To     time.Time
	Step   time.Duration
	// Rate asks for the per-second rate of a counter instead of its values
	// (rate.go).
	Rate bool
	// MaxSeries bounds the series the query may match (0: no bound). More
	// is an error wrapping ErrTooManySeries, found before any point is read.
	MaxSeries int
}

// ErrTooManySeries is wrapped by the error of a query that matches more
// series than its MaxSeries.
var ErrTooManySeries = errors.New("too many series match")

// SeriesInfo names one stored series. Probe is "" for a series stored
// before series carried their probe (format 1, see format.go).
type SeriesInfo struct {
	Probe  string
	Name   string
	Labels map[string]string
	id     uint64
}

// window is a query's time range in unix ms and its step.
type window struct{ from, to, step int64 }

func (q Query) window() (window, error) {
	if q.Step < 0 {
		return window{}, fmt.Errorf("negative step %s", q.Step)
	}
	to := q.To
	if to.IsZero() {
		to = time.Now()
	}
	w := window{from: q.From.UnixMilli(), to: to.UnixMilli(), step: q.Step.Milliseconds()}
	if q.From.IsZero() {
		w.from = 0
	}
	if w.from > w.to {
		return w, fmt.Errorf("from %s is after to %s", q.From.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return w, nil
}

// Query returns the matching series, sorted by name, probe and labels. The
// source is picked by Step: raw samples below a minute, minute rollups from
// 1m, hour rollups from 1h. Rollup buckets that overlap [From, To] are
// included, so with a rollup source the first point may lie up to one
// bucket before From.
func (s *Store) Query(q Query) ([]Series, error) {
	out := []Series{}
	err := s.QueryEach(q, func(sr Series) error {
		out = append(out, sr)
		return nil
	})
	return out, err
}

// QueryEach is Query handing one series at a time to fn, so a caller that
// streams (an export) holds one series' points, not all of them. The index
// is read first, in one transaction; each series' points are then read in a
// transaction of their own, and fn is called outside any, so a slow fn
// holds nothing of the store. An error from fn ends the query and is
// returned as is.
func (s *Store) QueryEach(q Query, fn func(Series) error) error {
	w, err := q.window()
	if err != nil {
		return fmt.Errorf("store: query %s: %w", q.Name, err)
	}
	var infos []SeriesInfo
	err = s.read(func(txn *badger.Txn) error {
		infos, err = matchSeries(txn, Match{Name: q.Name, Probe: q.Probe, Labels: q.Labels}, q.MaxSeries)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: query %s: %w", q.Name, err)
	}
	for _, si := range infos {
		var pts []Point
		err := s.read(func(txn *badger.Txn) error {
			var err error
			pts, err = readPoints(txn, si.id, w, q.Step, q.Rate)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: query %s: %w", si.Name, err)
		}
		if err := fn(Series{Probe: si.Probe, Name: si.Name, Labels: si.Labels, Points: pts}); err != nil {
			return err
		}
	}
	return nil
}

// readPoints reads one series over w from the source step picks, or its
// per-second rate (rate.go).
func readPoints(txn *badger.Txn, id uint64, w window, step time.Duration, rate bool) ([]Point, error) {
	switch {
	case rate:
		return readRate(txn, id, w.from, w.to, step)
	case step >= time.Hour:
		return scanRollup(txn, hourLevel, id, w.from, w.to, w.step)
	case step >= time.Minute:
		return scanRollup(txn, minuteLevel, id, w.from, w.to, w.step)
	}
	return scanRaw(txn, id, w.from, w.to, w.step)
}

// matchSeries reads the index entries m matches, sorted by name, probe and
// labels. More than max (when max > 0) is an error wrapping
// ErrTooManySeries, found after reading at most max+1 entries.
func matchSeries(txn *badger.Txn, m Match, max int) ([]SeriesInfo, error) {
	type sortable struct {
		SeriesInfo
		key string
	}
	var found []sortable
	over := false
	err := scanIndex(txn, m, nil, func(_ []byte, si SeriesInfo) bool {
		if max > 0 && len(found) == max {
			over = true
			return false
		}
		found = append(found, sortable{si, canonical(si)})
		return true
	})
	if err != nil {
		return nil, err
	}
	if over {
		return nil, fmt.Errorf("%w: more than %d", ErrTooManySeries, max)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].key < found[j].key })
	out := make([]SeriesInfo, len(found))
	for i, f := range found {
		out[i] = f.SeriesInfo
	}
	return out, nil
}

// scanIndex calls fn with each index entry m matches, in key order (name,
// probe, id), starting after the key after (nil: from the first), until fn
// returns false.
func scanIndex(txn *badger.Txn, m Match, after []byte, fn func(key []byte, si SeriesInfo) bool) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = indexPrefix(m)
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	if after != nil {
		it.Seek(after)
	} else {
		it.Rewind()
	}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if after != nil && bytes.Equal(k, after) {
			continue
		}
		name, probe, id, ok := parseIndexKey(k)
		if !ok || m.Name != "" && name != m.Name || m.Probe != "" && probe != m.Probe {
			continue
		}
		var labels map[string]string
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &labels) }); err != nil {
			return fmt.Errorf("decode labels of %s: %w", name, err)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		if !matches(labels, m.Labels) {
			continue
		}
		if !fn(k, SeriesInfo{Probe: probe, Name: name, Labels: labels, id: id}) {
			return nil
		}
	}
	return nil
}

// SeriesList returns up to limit series that m matches (limit <= 0: 1000),
// in a stable order (by name, then probe), from the first or after cursor,
// and the cursor of the next page: "" when there is none. A cursor is
// opaque; one that is malformed, or from a listing of another name or
// probe, is an error wrapping ErrBadCursor. Memory is bounded by limit,
// whatever the number of stored series.
func (s *Store) SeriesList(m Match, cursor string, limit int) ([]SeriesInfo, string, error) {
	if limit <= 0 {
		limit = 1000
	}
	after, err := decodeCursor(cursor, m)
	if err != nil {
		return nil, "", err
	}
	out := []SeriesInfo{}
	var last []byte
	more := false
	err = s.read(func(txn *badger.Txn) error {
		return scanIndex(txn, m, after, func(key []byte, si SeriesInfo) bool {
			if len(out) == limit {
				more = true
				return false
			}
			out = append(out, si)
			last = append(last[:0], key...)
			return true
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: series list: %w", err)
	}
	if !more {
		return out, "", nil
	}
	return out, encodeCursor(last), nil
}

// matches reports whether labels include every pair of want.
func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// canonical is a series' sort key: name, probe and labels sorted by key.
func canonical(si SeriesInfo) string {
	keys := make([]string, 0, len(si.Labels))
	for k := range si.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(si.Name)
	b.WriteByte(0)
	b.WriteString(si.Probe)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(si.Labels[k])
	}
	return b.String()
}

// scanRaw reads the raw samples of one series in [from, to] and downsamples
// them to step (0: as stored).
func scanRaw(txn *badger.Txn, id uint64, from, to, step int64) ([]Point, error) {
	ds := newDownsampler(step)
	err := scan(txn, prefixSample, id, from, to, func(t int64, v []byte) error {
		f, ok := decodeFloat(v)
		if !ok {
			return fmt.Errorf("sample of %d bytes", len(v))
		}
		ds.add(t, agg{Min: f, Max: f, Sum: f, Count: 1})
		return nil
	})
	return ds.points(), err
}

// scanRollup reads the buckets of level l that overlap [from, to] and
// downsamples them to step.
func scanRollup(txn *badger.Txn, l level, id uint64, from, to, step int64) ([]Point, error) {
	ds := newDownsampler(max(step, l.width))
	err := scan(txn, l.prefix, id, floorTo(from, l.width), to, func(t int64, v []byte) error {
		a, ok := decodeAgg(v)
		if !ok {
			return fmt.Errorf("rollup of %d bytes", len(v))
		}
		ds.add(t, a)
		return nil
	})
	return ds.points(), err
}

// scan calls fn for each point of series id with prefix in [from, to].
func scan(txn *badger.Txn, prefix byte, id uint64, from, to int64, fn func(t int64, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = seriesPrefix(prefix, id)
	opts.PrefetchValues = false // values are 8-32 bytes, stored inline in the LSM tree
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(seriesKey(prefix, id, from)); it.Valid(); it.Next() {
		item := it.Item()
		_, t, ok := parseSeriesKey(item.Key())
		if !ok {
			continue
		}
		if t > to {
			break
		}
		if err := item.Value(func(v []byte) error { return fn(t, v) }); err != nil {
			return err
		}
	}
	return nil
}

// downsampler folds time-ordered aggregates into step-wide buckets and emits
// each bucket's weighted average. step 0 passes points through.
type downsampler struct {
	step  int64
	out   []Point
	start int64
	cur   agg
}

func newDownsampler(step int64) *downsampler { return &downsampler{step: step, out: []Point{}} }

func (d *downsampler) add(t int64, a agg) {
	if d.step <= 0 {
		d.out = append(d.out, Point{T: t, V: a.avg()})
		return
	}
	start := floorTo(t, d.step)
	if d.cur.Count > 0 && start != d.start {
		d.out = append(d.out, Point{T: d.start, V: d.cur.avg()})
		d.cur = agg{}
	}
	d.start = start
	d.cur.merge(a)
}

func (d *downsampler) points() []Point {
	if d.cur.Count > 0 {
		d.out = append(d.out, Point{T: d.start, V: d.cur.avg()})
		d.cur = agg{}
	}
	return d.out
}
