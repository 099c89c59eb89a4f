package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Point is one value at a time. It marshals as [unix_ms, value], the
// compact form charts take.
type Point struct {
	T int64 // unix ms
	V float64
}

// MarshalJSON encodes p as [t, v].
func (p Point) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.T, 10)
	b = append(b, ',')
	b = strconv.AppendFloat(b, p.V, 'g', -1, 64)
	return append(b, ']'), nil
}

// UnmarshalJSON decodes [t, v].
func (p *Point) UnmarshalJSON(b []byte) error {
	var a [2]json.Number
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("point: %w", err)
	}
	t, err := a[0].Int64()
	if err != nil {
		return fmt.Errorf("point time: %w", err)
	}
	v, err := a[1].Float64()
	if err != nil {
		return fmt.Errorf("point value: %w", err)
	}
	p.T, p.V = t, v
	return nil
}

// Series is the answer for one series of a query.
type Series struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// Query asks for the series named Name whose labels include Labels, between
// From and To (both inclusive; zero From means everything kept, zero To
// means now). Step 0 returns raw samples; a Step averages the points of each
// Step-wide bucket (aligned to the unix epoch) into one point at the
// bucket's start.
type Query struct {
	Name   string
	Labels map[string]string // subset match; a label asked as "" also matches its absence
	From   time.Time
	To     time.Time
	Step   time.Duration
	// Rate asks for the per-second rate of a counter instead of its values
	// (rate.go).
	Rate bool
}

// SeriesInfo names one stored series.
type SeriesInfo struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Query returns the matching series, sorted by name and labels. The source is
// picked by Step: raw samples below a minute, minute rollups from 1m, hour
// rollups from 1h. Rollup buckets that overlap [From, To] are included, so
// with a rollup source the first point may lie up to one bucket before From.
func (s *Store) Query(q Query) ([]Series, error) {
	if q.Name == "" {
		return nil, errors.New("store: query: series name is required")
	}
	if q.Step < 0 {
		return nil, fmt.Errorf("store: query: negative step %s", q.Step)
	}
	to := q.To
	if to.IsZero() {
		to = time.Now()
	}
	from, toMs := q.From.UnixMilli(), to.UnixMilli()
	if q.From.IsZero() {
		from = 0
	}
	if from > toMs {
		return nil, fmt.Errorf("store: query: from %s is after to %s", q.From.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	step := q.Step.Milliseconds()

	out := []Series{}
	err := s.read(func(txn *badger.Txn) error {
		infos, err := seriesOf(txn, indexNamePrefix(q.Name), q.Labels)
		if err != nil {
			return err
		}
		for _, si := range infos {
			var pts []Point
			switch {
			case q.Rate:
				pts, err = readRate(txn, si.id, from, toMs, q.Step)
			case q.Step >= time.Hour:
				pts, err = scanRollup(txn, hourLevel, si.id, from, toMs, step)
			case q.Step >= time.Minute:
				pts, err = scanRollup(txn, minuteLevel, si.id, from, toMs, step)
			default:
				pts, err = scanRaw(txn, si.id, from, toMs, step)
			}
			if err != nil {
				return err
			}
			out = append(out, Series{Name: si.Name, Labels: si.Labels, Points: pts})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: query %s: %w", q.Name, err)
	}
	return out, nil
}

// SeriesList returns every stored series, sorted by name and labels.
func (s *Store) SeriesList() ([]SeriesInfo, error) {
	var infos []indexedSeries
	err := s.read(func(txn *badger.Txn) error {
		var err error
		infos, err = seriesOf(txn, []byte{prefixIndex}, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: series list: %w", err)
	}
	out := make([]SeriesInfo, len(infos))
	for i, si := range infos {
		out[i] = si.SeriesInfo
	}
	return out, nil
}

type indexedSeries struct {
	SeriesInfo
	id  uint64
	key string // name and sorted labels, for a stable order
}

// seriesOf reads the index entries under prefix whose labels include want.
func seriesOf(txn *badger.Txn, prefix []byte, want map[string]string) ([]indexedSeries, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	var out []indexedSeries
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		name, id, ok := parseIndexKey(item.Key())
		if !ok {
			continue
		}
		var labels map[string]string
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &labels) }); err != nil {
			return nil, fmt.Errorf("decode labels of %s: %w", name, err)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		if !matches(labels, want) {
			continue
		}
		out = append(out, indexedSeries{SeriesInfo: SeriesInfo{Name: name, Labels: labels}, id: id, key: canonical(name, labels)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
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

func canonical(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(labels[k])
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
