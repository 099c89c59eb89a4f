package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// indexRefresh is how often a live series' index entry is rewritten, so
// its TTL (that of its longest-lived rollup) keeps moving forward.
const indexRefresh = 24 * time.Hour

// writer is the single goroutine that owns every write. Being the only
// writer, it needs no locks for its state and never meets a conflict.
type writer struct {
	s   *Store
	db  *badger.DB
	log *slog.Logger

	samples []*badger.Entry         // raw samples since the last commit
	latest  map[string]*Record      // last report per probe since the last commit
	other   []*badger.Entry         // index, event and entity-state entries
	pending int                     // samples since the last commit, against BatchSize
	roll    *rollups                // open rollup buckets
	indexed map[uint64]time.Time    // when each series' index entry was last written
	ents    map[string]entityStates // last known entities per probe
	entsAt  map[string]time.Time    // when each probe's entity state was last written
	seq     uint32                  // tells events of one nanosecond apart
	hwm     int64                   // high-water mark as last written

	lastCheckpoint time.Time
	err            error // of the final commit, returned by Close
}

func newWriter(s *Store) (*writer, error) {
	w := &writer{
		s:              s,
		db:             s.db,
		log:            s.log,
		latest:         map[string]*Record{},
		indexed:        map[uint64]time.Time{},
		ents:           map[string]entityStates{},
		entsAt:         map[string]time.Time{},
		lastCheckpoint: time.Now(),
	}
	// Rebuild the entity states so the first report after a restart is
	// compared with the last one before it.
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixEntity}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			probe := string(item.Key()[1:])
			var es entityStates
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &es) }); err != nil {
				w.log.Warn("ignoring unreadable entity state", "probe", probe, "err", err)
				continue
			}
			w.ents[probe] = es
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load entity states: %w", err)
	}
	w.hwm, err = readHighWaterMark(s.db)
	if err != nil {
		return nil, err
	}
	w.roll = newRollups(w.hwm)
	return w, nil
}

// readHighWaterMark returns the newest sample time rolled up by earlier
// runs: MinInt64 for a new store, MaxInt64 (read every bucket before
// updating it) if rollups exist without a mark.
func readHighWaterMark(db *badger.DB) (int64, error) {
	hwm := int64(math.MinInt64)
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(hwmKey)
		if err == nil {
			return item.Value(func(v []byte) error {
				if len(v) != 8 {
					hwm = math.MaxInt64
					return nil
				}
				hwm = int64(binary.BigEndian.Uint64(v))
				return nil
			})
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixMinute}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		if it.Rewind(); it.Valid() {
			hwm = math.MaxInt64
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: read high-water mark: %w", err)
	}
	return hwm, nil
}

// run commits a batch when it is full, or FlushInterval after its first
// sample arrived. An idle writer sleeps: no ticker wakes it (every wake-up
// of an idle agent costs, docs/PERFORMANCE.md); a timer is armed by data,
// and after a commit only while open rollup buckets wait for their
// checkpoint.
func (w *writer) run() {
	defer close(w.s.writerDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var flush <-chan time.Time // nil: nothing waits to be committed
	var due time.Time          // when flush fires
	// arm makes the timer fire within d.
	arm := func(d time.Duration) {
		if at := time.Now().Add(d); flush == nil || at.Before(due) {
			t.Reset(d)
			flush, due = t.C, at
		}
	}
	for {
		select {
		case o, ok := <-w.s.queue:
			if !ok {
				w.err = w.commit(true)
				return
			}
			w.handle(o)
			if w.pending >= w.s.opt.BatchSize {
				_ = w.commit(false)
				w.compact()
			}
			if w.pending > 0 || len(w.latest) > 0 || len(w.other) > 0 {
				arm(w.s.opt.FlushInterval)
			}
		case <-flush:
			flush = nil
			_ = w.commit(false)
			w.compact()
			switch {
			case w.compacting():
				arm(windowCheck) // close the window once the levels settle
			case w.roll.dirty():
				arm(max(checkpointEvery-time.Since(w.lastCheckpoint), w.s.opt.FlushInterval))
			}
		}
	}
}

func (w *writer) handle(o op) {
	switch {
	case o.flush != nil:
		o.flush <- w.commit(true)
	case o.event != nil:
		w.addEvent(*o.event)
	case o.rec != nil:
		w.addRecord(o.rec)
	}
}

func (w *writer) addRecord(r *Record) {
	ret := r.Retention
	if ret <= 0 {
		ret = w.s.opt.Retention
	}
	now := time.Now()
	nowSec := uint64(now.Unix())
	ts := r.Time.UnixMilli()
	sampleExp := expiresAt(ts, ret)

	for _, m := range r.Report.Metrics {
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue // would poison every rollup it touches
		}
		id := seriesID(m.Name, m.Labels)
		w.index(id, m.Name, m.Labels, ts, ret, now)
		if sampleExp > nowSec {
			w.samples = append(w.samples, &badger.Entry{
				Key: seriesKey(prefixSample, id, ts), Value: encodeFloat(m.Value), ExpiresAt: sampleExp,
			})
			w.pending++
		}
		for _, l := range levels {
			ttl := l.ttl(ret)
			if expiresAt(floorTo(ts, l.width)+l.width, ttl) <= nowSec {
				continue // the whole bucket is past its TTL
			}
			if err := w.roll.add(l, id, ts, m.Value, ttl, w.loadBucket); err != nil {
				w.log.Error("rollup lost a sample", "series", m.Name, "err", err)
			}
		}
	}

	var exp uint64
	if r.StaleAfter > 0 {
		exp = expiresAt(ts, r.StaleAfter)
	}
	if exp == 0 || exp > nowSec {
		// Encoded at commit: of several reports of one probe in a batch,
		// only the last is written.
		w.latest[r.Probe] = r
	}

	// A probe that could not run says nothing about its entities.
	if r.Error == "" {
		w.entities(r, now)
	}
}

// index writes the series' index entry when this process has not written
// it yet, or not for indexRefresh.
func (w *writer) index(id uint64, name string, labels map[string]string, ts int64, ret time.Duration, now time.Time) {
	if last, ok := w.indexed[id]; ok && now.Sub(last) < indexRefresh {
		return
	}
	if labels == nil {
		labels = map[string]string{}
	}
	b, err := json.Marshal(labels)
	if err != nil {
		w.log.Error("encode series labels", "series", name, "err", err)
		return
	}
	w.other = append(w.other, &badger.Entry{
		Key: indexKey(name, id), Value: b, ExpiresAt: expiresAt(max(ts, now.UnixMilli()), hourTTL(ret)),
	})
	w.indexed[id] = now
}

func (w *writer) entities(r *Record, now time.Time) {
	prev := w.ents[r.Probe]
	evs, next, changed := diffEntities(r.Probe, r.Time, prev, r.Report.Entities)
	for _, e := range evs {
		w.addEvent(e)
	}
	w.ents[r.Probe] = next
	if !changed && now.Sub(w.entsAt[r.Probe]) < indexRefresh {
		return
	}
	b, err := json.Marshal(next)
	if err != nil {
		w.log.Error("encode entity state", "probe", r.Probe, "err", err)
		return
	}
	w.other = append(w.other, &badger.Entry{
		Key: entityKey(r.Probe), Value: b, ExpiresAt: expiresAt(now.UnixMilli(), eventTTL),
	})
	w.entsAt[r.Probe] = now
}

func (w *writer) addEvent(e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		w.log.Error("encode event", "probe", e.Probe, "err", err)
		return
	}
	w.seq++
	w.other = append(w.other, &badger.Entry{
		Key: eventKey(e.Time.UnixNano(), w.seq), Value: b, ExpiresAt: expiresAt(e.Time.UnixMilli(), eventTTL),
	})
	w.pending++
}

// loadBucket reads a stored rollup bucket (the writer's loadFunc).
func (w *writer) loadBucket(key []byte) (agg, bool, error) {
	var a agg
	found := false
	err := w.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var ok bool
			a, ok = decodeAgg(v)
			found = ok
			return nil
		})
	})
	if err != nil {
		return agg{}, false, fmt.Errorf("load rollup bucket: %w", err)
	}
	return a, found, nil
}

// commit writes everything buffered in one WriteBatch. all also writes the
// open rollup buckets (Flush, Close, and every checkpointEvery).
func (w *writer) commit(all bool) error {
	now := time.Now()
	if now.Sub(w.lastCheckpoint) >= checkpointEvery {
		all = true
		w.lastCheckpoint = now
		w.roll.closeIdle(now.UnixMilli())
		for id, at := range w.indexed {
			if now.Sub(at) >= indexRefresh {
				delete(w.indexed, id)
			}
		}
	}
	keys := w.roll.pending(all)
	if len(w.samples) == 0 && len(w.latest) == 0 && len(w.other) == 0 && len(keys) == 0 {
		return nil
	}

	err := w.write(keys, uint64(now.Unix()))
	w.samples = w.samples[:0]
	w.other = w.other[:0]
	clear(w.latest)
	w.pending = 0
	if err != nil {
		// The raw entries are dropped rather than retried: a full or broken
		// disk must not grow memory without bound. Rollup buckets stay dirty
		// and are written with the next commit.
		w.log.Error("write batch failed, samples lost", "err", err)
		return fmt.Errorf("store: write batch: %w", err)
	}
	w.roll.written(keys)
	return nil
}

func (w *writer) write(keys []bucketKey, nowSec uint64) error {
	wb := w.db.NewWriteBatch()
	set := func(e *badger.Entry) error {
		if err := wb.SetEntry(e); err != nil {
			wb.Cancel()
			return err
		}
		return nil
	}
	// The high-water mark goes first: Badger applies a batch's transactions
	// in order, so no rollup bucket is ever on disk without a mark that
	// covers it (see rollups.storedUpTo).
	hwm := w.roll.maxT
	if hwm > w.hwm {
		if err := set(&badger.Entry{Key: hwmKey, Value: binary.BigEndian.AppendUint64(nil, uint64(hwm))}); err != nil {
			return err
		}
	}
	for _, e := range w.samples {
		if err := set(e); err != nil {
			return err
		}
	}
	for _, e := range w.other {
		if err := set(e); err != nil {
			return err
		}
	}
	for probe, r := range w.latest {
		b, err := json.Marshal(r)
		if err != nil {
			w.log.Error("encode latest report", "probe", probe, "err", err)
			continue
		}
		var exp uint64
		if r.StaleAfter > 0 {
			exp = expiresAt(r.Time.UnixMilli(), r.StaleAfter)
		}
		if err := set(&badger.Entry{Key: latestKey(probe), Value: b, ExpiresAt: exp}); err != nil {
			return err
		}
	}
	for _, k := range keys {
		b := w.roll.buckets[k]
		width := minuteLevel.width
		if k.prefix == prefixHour {
			width = hourLevel.width
		}
		exp := expiresAt(k.start+width, b.ttl)
		if exp <= nowSec {
			continue
		}
		if err := set(&badger.Entry{Key: seriesKey(k.prefix, k.id, k.start), Value: b.agg.encode(), ExpiresAt: exp}); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	w.hwm = max(w.hwm, hwm)
	return nil
}
