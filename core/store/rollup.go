package store

import (
	"encoding/binary"
	"math"
	"time"
)

// level is one rollup resolution.
type level struct {
	prefix byte
	width  int64 // bucket width in ms
}

var (
	minuteLevel = level{prefixMinute, int64(time.Minute / time.Millisecond)}
	hourLevel   = level{prefixHour, int64(time.Hour / time.Millisecond)}
	levels      = [...]level{minuteLevel, hourLevel}
)

// Rollup TTL bounds; see the package doc for why.
const (
	minuteTTLFactor = 4
	maxMinuteTTL    = 30 * 24 * time.Hour
	hourTTLFactor   = 52
	maxHourTTL      = 400 * 24 * time.Hour
)

// minuteTTL is how long minute rollups of a series with raw retention ret
// are kept: 4x ret, capped at 30 days, never shorter than ret itself.
func minuteTTL(ret time.Duration) time.Duration {
	return max(min(minuteTTLFactor*ret, maxMinuteTTL), ret)
}

// hourTTL is how long hour rollups are kept: 52x ret (a year for the 7 day
// default), capped at 400 days, never shorter than the minute rollups.
func hourTTL(ret time.Duration) time.Duration {
	return max(min(hourTTLFactor*ret, maxHourTTL), minuteTTL(ret))
}

func (l level) ttl(ret time.Duration) time.Duration {
	if l.prefix == prefixHour {
		return hourTTL(ret)
	}
	return minuteTTL(ret)
}

// floorTo rounds t down to a multiple of w (also for negative t).
func floorTo(t, w int64) int64 {
	r := t % w
	if r < 0 {
		r += w
	}
	return t - r
}

// agg is the aggregate of one rollup bucket. Sum and Count rather than a
// mean, so buckets merge exactly and a coarser step is a weighted average.
type agg struct {
	Min, Max, Sum float64
	Count         uint64
}

const aggLen = 32

func (a *agg) add(v float64) {
	if a.Count == 0 {
		a.Min, a.Max = v, v
	} else {
		a.Min = min(a.Min, v)
		a.Max = max(a.Max, v)
	}
	a.Sum += v
	a.Count++
}

func (a *agg) merge(b agg) {
	if b.Count == 0 {
		return
	}
	if a.Count == 0 {
		*a = b
		return
	}
	a.Min = min(a.Min, b.Min)
	a.Max = max(a.Max, b.Max)
	a.Sum += b.Sum
	a.Count += b.Count
}

func (a agg) avg() float64 {
	if a.Count == 0 {
		return math.NaN()
	}
	return a.Sum / float64(a.Count)
}

func (a agg) encode() []byte {
	b := make([]byte, aggLen)
	binary.BigEndian.PutUint64(b[0:], math.Float64bits(a.Min))
	binary.BigEndian.PutUint64(b[8:], math.Float64bits(a.Max))
	binary.BigEndian.PutUint64(b[16:], math.Float64bits(a.Sum))
	binary.BigEndian.PutUint64(b[24:], a.Count)
	return b
}

func decodeAgg(b []byte) (agg, bool) {
	if len(b) != aggLen {
		return agg{}, false
	}
	return agg{
		Min:   math.Float64frombits(binary.BigEndian.Uint64(b[0:])),
		Max:   math.Float64frombits(binary.BigEndian.Uint64(b[8:])),
		Sum:   math.Float64frombits(binary.BigEndian.Uint64(b[16:])),
		Count: binary.BigEndian.Uint64(b[24:]),
	}, true
}

// rollups holds the writer's in-memory rollup buckets. It is owned by the
// writer goroutine and needs no lock.
//
// Invariant: a bucket in memory holds its full aggregate (seeded from the
// stored one when it may exist); a bucket not in memory is what is stored.
// Buckets are written whole (never as deltas) and evicted only after a
// successful commit, so a restart, a late sample or a failed write neither
// double counts nor loses a sample.
type rollups struct {
	buckets map[bucketKey]*bucket
	newest  map[seriesLevel]int64 // start of the newest bucket touched per series and level

	// A bucket that is not in memory has to be read from disk before it is
	// updated only if it may be there: if an earlier process wrote samples
	// up to its start (storedUpTo, persisted as the high-water mark), or this
	// one did (newest, or forgotten newest up to forgotUpTo). Skipping the
	// read in the common case (a new bucket in real time) saves a point
	// lookup per series per minute.
	storedUpTo int64
	forgotUpTo int64
	maxT       int64 // newest sample time added, the next high-water mark
}

type bucketKey struct {
	prefix byte
	id     uint64
	start  int64
}

type seriesLevel struct {
	prefix byte
	id     uint64
}

type bucket struct {
	agg    agg
	probe  string // whose series it is, for a write error
	ttl    time.Duration
	dirty  bool // changed since last written
	closed bool // no more samples expected: evict once written
}

// loadFunc reads a stored bucket; ok is false when there is none.
type loadFunc func(key []byte) (a agg, ok bool, err error)

// newRollups starts with nothing in memory; storedUpTo is the newest sample
// time an earlier process may have rolled up.
func newRollups(storedUpTo int64) *rollups {
	return &rollups{
		buckets:    map[bucketKey]*bucket{},
		newest:     map[seriesLevel]int64{},
		storedUpTo: storedUpTo,
		forgotUpTo: math.MinInt64,
		maxT:       storedUpTo,
	}
}

// add folds sample (t ms, v) of series id, probe's, into its bucket at
// level l.
func (r *rollups) add(l level, id uint64, probe string, t int64, v float64, ttl time.Duration, load loadFunc) error {
	start := floorTo(t, l.width)
	k := bucketKey{l.prefix, id, start}
	sl := seriesLevel{l.prefix, id}
	newest, seen := r.newest[sl]
	b := r.buckets[k]
	if b == nil {
		b = &bucket{probe: probe}
		if start <= r.storedUpTo || start <= r.forgotUpTo || (seen && start <= newest) {
			// The bucket may be stored (it spans a restart, or gets a late
			// sample): continue from it, so it is merged, not overwritten.
			stored, _, err := load(seriesKey(l.prefix, id, start))
			if err != nil {
				return err
			}
			b.agg = stored
		}
		r.buckets[k] = b
	}
	r.maxT = max(r.maxT, t)
	b.agg.add(v)
	b.ttl = ttl
	b.dirty = true

	switch {
	case !seen || start > newest:
		// A newer bucket opened: the previous one is complete.
		if seen {
			if prev := r.buckets[bucketKey{l.prefix, id, newest}]; prev != nil {
				prev.closed = true
			}
		}
		r.newest[sl] = start
	case start < newest:
		b.closed = true // a late sample for an old bucket
	}
	return nil
}

// forget closes every bucket of probe's series and forgets their newest
// buckets, as closeIdle does for a series idle for long: a bucket of theirs
// that opens again is read from disk first (forgotUpTo), so nothing is
// lost. It returns the series' ids.
func (r *rollups) forget(probe string) map[uint64]bool {
	ids := map[uint64]bool{}
	for k, b := range r.buckets {
		if b.probe == probe {
			b.closed = true
			ids[k.id] = true
		}
	}
	for sl, start := range r.newest {
		if ids[sl.id] {
			r.forgotUpTo = max(r.forgotUpTo, start)
			delete(r.newest, sl)
		}
	}
	return ids
}

// closeIdle marks buckets that ended more than one bucket width before
// nowMs as closed, so series that stopped reporting leave memory, and
// forgets the newest bucket of series idle for a day.
func (r *rollups) closeIdle(nowMs int64) {
	for k, b := range r.buckets {
		w := minuteLevel.width
		if k.prefix == prefixHour {
			w = hourLevel.width
		}
		if k.start+2*w <= nowMs {
			b.closed = true
		}
	}
	for sl, start := range r.newest {
		if start < nowMs-forgetAfter {
			r.forgotUpTo = max(r.forgotUpTo, start)
			delete(r.newest, sl)
		}
	}
}

// forgetAfter is how long the newest bucket of an idle series is
// remembered. Past it, a bucket that may be stored is read before it is
// updated, which costs only late samples a lookup (a real-time sample opens
// a bucket newer than anything forgotten), so it is short: it bounds the
// memory the writer keeps of series that stopped reporting.
const forgetAfter = int64(2 * time.Hour / time.Millisecond)

// pending returns the buckets to write: closed dirty ones always, open dirty
// ones too when all is set (Flush, Close and the periodic checkpoint).
func (r *rollups) pending(all bool) []bucketKey {
	var ks []bucketKey
	for k, b := range r.buckets {
		if b.dirty && (b.closed || all) {
			ks = append(ks, k)
		}
	}
	return ks
}

// dirty reports whether any bucket holds what is not written yet.
func (r *rollups) dirty() bool {
	for _, b := range r.buckets {
		if b.dirty {
			return true
		}
	}
	return false
}

// written records that ks were committed: they are clean, and closed ones
// leave memory. Closed buckets that are clean are evicted as well.
func (r *rollups) written(ks []bucketKey) {
	for _, k := range ks {
		if b := r.buckets[k]; b != nil {
			b.dirty = false
		}
	}
	for k, b := range r.buckets {
		if b.closed && !b.dirty {
			delete(r.buckets, k)
		}
	}
}
