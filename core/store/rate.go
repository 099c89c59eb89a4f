package store

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Rates turn a counter (bytes sent since boot, reads completed) into a
// per-second rate: what a chart of network or disk throughput shows.
//
// Between two consecutive values of a series the rate is the increase over
// the time between them. A decrease means the counter was reset (a reboot,
// a container restart) and counted up again from zero, so the later value
// is itself the increase, as Prometheus' rate() takes it. From rollups the
// counter's value at the end of a bucket is the bucket's maximum, which for
// a counter that only grows is its last sample.

// rawRateLookback is how far before a query's start raw samples are read,
// so that the first point in the window has a predecessor to count from.
const rawRateLookback = 10 * time.Minute

// counterRater folds a counter's values, in time order, into rates.
type counterRater struct {
	prevT  int64
	prevV  float64
	primed bool
}

// next takes the value v at t and returns the rate since the previous value
// (false for the first value, or when t does not move forward).
func (c *counterRater) next(t int64, v float64) (float64, bool) {
	prevT, prevV, primed := c.prevT, c.prevV, c.primed
	c.prevT, c.prevV, c.primed = t, v, true
	if !primed || t <= prevT {
		return 0, false
	}
	inc := v - prevV
	if inc < 0 {
		inc = v // reset: counted up from zero since
	}
	return inc / (float64(t-prevT) / 1000), true
}

// readRate reads the per-second rate of a counter series over [from, to],
// averaged into step-wide buckets. The source is picked by step as for
// plain queries: raw samples below a minute, minute rollups from 1m, hour
// rollups from 1h. A rate is stamped at the later of its two values.
func readRate(txn *badger.Txn, id uint64, from, to int64, step time.Duration) ([]Point, error) {
	stepMs := step.Milliseconds()
	var l *level
	switch {
	case step >= time.Hour:
		l = &hourLevel
	case step >= time.Minute:
		l = &minuteLevel
	}
	var rater counterRater
	if l == nil {
		ds := newDownsampler(stepMs)
		start := from - rawRateLookback.Milliseconds()
		err := scan(txn, prefixSample, id, start, to, func(t int64, v []byte) error {
			f, ok := decodeFloat(v)
			if !ok {
				return fmt.Errorf("sample of %d bytes", len(v))
			}
			if r, ok := rater.next(t, f); ok && t >= from {
				ds.add(t, agg{Min: r, Max: r, Sum: r, Count: 1})
			}
			return nil
		})
		return ds.points(), err
	}
	ds := newDownsampler(max(stepMs, l.width))
	first := floorTo(from, l.width)
	err := scan(txn, l.prefix, id, first-l.width, to, func(t int64, v []byte) error {
		a, ok := decodeAgg(v)
		if !ok {
			return fmt.Errorf("rollup of %d bytes", len(v))
		}
		if r, ok := rater.next(t, a.Max); ok && t >= first {
			ds.add(t, agg{Min: r, Max: r, Sum: r, Count: 1})
		}
		return nil
	})
	return ds.points(), err
}
