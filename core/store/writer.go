package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// indexRefresh is how often a live series' index entry is rewritten, so
// its TTL (that of its longest-lived rollup) keeps moving forward. It also
// bounds the writer's memory of series: one that reported in the last
// indexRefresh is remembered, one idle for longer is forgotten.
const indexRefresh = time.Hour

// maxKey is Badger's limit on a key's length.
const maxKey = 65_000

// owned is an entry with the probe it belongs to: if Badger refuses it,
// that probe loses it, and nobody else.
type owned struct {
	e      *badger.Entry
	probe  string
	bucket *bucketKey // the rollup bucket it writes, if any
}

// writer is the single goroutine that owns every write. Being the only
// writer, it needs no locks for its state and never meets a conflict.
type writer struct {
	s   *Store
	db  *badger.DB
	log *slog.Logger

	entries []owned                 // samples, index, event and entity-state entries since the last commit
	latest  map[string]*Record      // last report per probe since the last commit
	pending int                     // samples since the last commit, against BatchSize
	roll    *rollups                // open rollup buckets
	indexed map[uint64]time.Time    // when each series' index entry was last written
	ents    map[string]entityStates // last known entities per probe
	entsAt  map[string]time.Time    // when each probe's entity state was last written
	seq     uint32                  // tells events of one nanosecond apart
	hwm     int64                   // high-water mark as last written

	lastCheckpoint time.Time
	err            error // of the final commit, returned by Close

	// flush writes one batch; write by default. Tests put a failing one in
	// front to act out a batch Badger refuses as a whole.
	flush      func([]owned) error
	loggedDrop map[string]time.Time // when a write error of each probe was last logged

	held []op // taken off the queue while a reopen waited for the lock (lockStore)
}

func newWriter(s *Store) (*writer, error) {
	w := &writer{
		s:              s,
		db:             s.db,
		log:            s.log,
		latest:         map[string]*Record{},
		indexed:        map[uint64]time.Time{},
		entsAt:         map[string]time.Time{},
		lastCheckpoint: time.Now(),
		loggedDrop:     map[string]time.Time{},
	}
	w.flush = w.write
	if err := w.reload(); err != nil {
		return nil, err
	}
	w.roll = newRollups(w.hwm)
	return w, nil
}

// reload reads what the writer keeps of the database: the entity states,
// so the first report after a restart is compared with the last one before
// it, and the rollup high-water mark. After the writer reopened the
// database (space.go) it reads them again: a stand-in held neither.
func (w *writer) reload() error {
	w.ents = map[string]entityStates{}
	err := w.db.View(func(txn *badger.Txn) error {
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
		return fmt.Errorf("store: load entity states: %w", err)
	}
	w.hwm, err = readHighWaterMark(w.db)
	if err != nil {
		return err
	}
	if w.roll != nil {
		w.roll.storedUpTo = max(w.roll.storedUpTo, w.hwm)
	}
	return nil
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
	// settle sets the timer for what is left after a commit: a compaction
	// window to close, or rollup buckets to checkpoint; else nothing.
	settle := func() {
		t.Stop()
		flush = nil
		switch {
		case w.compacting():
			arm(windowCheck) // close the window once the levels settle
		case w.roll.dirty():
			arm(max(checkpointEvery-time.Since(w.lastCheckpoint), w.s.opt.FlushInterval))
		}
	}
	take := func(o op) {
		w.handle(o)
		if o.flush != nil {
			w.compact() // a Flush may have written much (every open rollup bucket)
		}
		if w.pending >= w.s.opt.BatchSize {
			_ = w.commit(false)
			w.compact()
		}
		switch {
		case len(w.entries) > 0 || len(w.latest) > 0:
			arm(w.s.opt.FlushInterval)
		case o.flush != nil && flush != nil:
			// A Flush committed what the timer was set for: an idle store
			// does not wake for nothing, nor look at the disk while another
			// process may be filling it (space.go).
			settle()
		}
	}
	for {
		// Ops a reopen took off the queue come before any still in it.
		for len(w.held) > 0 {
			o := w.held[0]
			w.held = w.held[1:]
			take(o)
		}
		if w.s.space.mode() != modeWritable {
			arm(spaceCheckEvery) // commit looks at the free space again
		}
		select {
		case o, ok := <-w.s.queue:
			if !ok {
				w.err = w.commit(true)
				return
			}
			take(o)
		case <-flush:
			flush = nil
			_ = w.commit(false)
			w.compact()
			settle()
		}
	}
}

// resized is a copy of m sized for what it holds now.
func resized[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (w *writer) handle(o op) {
	switch {
	case o.forget != "":
		for id := range w.roll.forget(o.forget) {
			delete(w.indexed, id)
		}
		_ = w.commit(false) // writes those closed with unwritten samples
		w.roll.written(nil) // and lets every written one go
		// A Go map keeps its size after deletes: copied, the room a series
		// explosion took is given back.
		w.roll.buckets, w.roll.newest, w.indexed = resized(w.roll.buckets), resized(w.roll.newest), resized(w.indexed)
	case o.flush != nil:
		o.flush <- w.commit(true)
	case o.event != nil:
		w.addEvent(*o.event)
	case o.rec != nil:
		w.addRecord(o.rec)
	}
}

func (w *writer) addRecord(r *Record) {
	if w.s.space.mode() != modeWritable {
		w.notWritten(r.Probe, uint64(len(r.Report.Metrics)))
		return
	}
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
		if !keyableName(r.Probe, m.Name) {
			// The agent's limits never let such a name through; the store
			// does not count on it. This sample is lost, nothing else.
			w.rejected(r.Probe, 1, fmt.Errorf("metric name of %d bytes cannot key a series", len(m.Name)))
			continue
		}
		id := seriesID(r.Probe, m.Name, m.Labels)
		w.index(id, r.Probe, m.Name, m.Labels, ts, ret, now)
		if sampleExp > nowSec {
			w.entries = append(w.entries, owned{e: &badger.Entry{
				Key: seriesKey(prefixSample, id, ts), Value: encodeFloat(m.Value), ExpiresAt: sampleExp,
			}, probe: r.Probe})
			w.pending++
		}
		for _, l := range levels {
			ttl := l.ttl(ret)
			if expiresAt(floorTo(ts, l.width)+l.width, ttl) <= nowSec {
				continue // the whole bucket is past its TTL
			}
			if err := w.roll.add(l, id, r.Probe, ts, m.Value, ttl, w.loadBucket); err != nil {
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

// keyableName reports whether name can key a series of probe: not empty,
// no NUL (the index key's separator), and an index key within Badger's
// limit.
func keyableName(probe, name string) bool {
	return name != "" && strings.IndexByte(name, 0) < 0 && 1+len(name)+1+len(probe)+1+8 <= maxKey
}

// notWritten counts a record or event dropped because the store is not
// writing.
func (w *writer) notWritten(probe string, samples uint64) {
	w.s.drop(probe, DropDiskFull, samples)
	w.s.space.mu.Lock()
	w.s.space.dropped++
	w.s.space.mu.Unlock()
}

// rejected counts n entries of probe that Badger refused or would refuse,
// and logs it at most once every ten minutes per probe.
func (w *writer) rejected(probe string, n uint64, err error) {
	w.s.drop(probe, DropWriteError, n)
	now := time.Now()
	if now.Sub(w.loggedDrop[probe]) < 10*time.Minute {
		return
	}
	w.loggedDrop[probe] = now
	w.log.Error("store refused a write of one probe; only that probe's entry is lost", "probe", probe, "err", err)
}

// index writes the series' index entry when this process has not written
// it yet, or not for indexRefresh.
func (w *writer) index(id uint64, probe, name string, labels map[string]string, ts int64, ret time.Duration, now time.Time) {
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
	w.entries = append(w.entries, owned{e: &badger.Entry{
		Key: indexKey(name, probe, id), Value: b, ExpiresAt: expiresAt(max(ts, now.UnixMilli()), hourTTL(ret)),
	}, probe: probe})
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
	w.entries = append(w.entries, owned{e: &badger.Entry{
		Key: entityKey(r.Probe), Value: b, ExpiresAt: expiresAt(now.UnixMilli(), eventTTL),
	}, probe: r.Probe})
	w.entsAt[r.Probe] = now
}

func (w *writer) addEvent(e Event) {
	if w.s.space.mode() != modeWritable {
		w.notWritten(e.Probe, 0)
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		w.log.Error("encode event", "probe", e.Probe, "err", err)
		return
	}
	w.seq++
	w.entries = append(w.entries, owned{e: &badger.Entry{
		Key: eventKey(e.Time.UnixNano(), w.seq), Value: b, ExpiresAt: expiresAt(e.Time.UnixMilli(), eventTTL),
	}, probe: e.Probe})
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
// open rollup buckets (Flush, Close, and every checkpointEvery). It first
// looks at the free space (space.go): a store that is not writing drops
// what is buffered, counted, and keeps its rollup buckets for later.
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
	if !w.canWrite(now) {
		for _, o := range w.entries {
			w.lost(o, DropDiskFull)
		}
		w.reset()
		return ErrNotWritable
	}
	keys := w.roll.pending(all)
	if len(w.entries) == 0 && len(w.latest) == 0 && len(keys) == 0 {
		return nil
	}
	batch := w.batch(keys, uint64(now.Unix()))
	w.reset()
	written, err := w.writeIsolated(batch)
	w.roll.written(written)
	return err
}

// reset forgets what was buffered.
func (w *writer) reset() {
	w.entries = w.entries[:0]
	clear(w.latest)
	w.pending = 0
}

// batch lists everything to write, the high-water mark first: Badger
// applies a batch's transactions in order, so no rollup bucket is ever on
// disk without a mark that covers it (see rollups.storedUpTo).
func (w *writer) batch(keys []bucketKey, nowSec uint64) []owned {
	out := make([]owned, 0, 1+len(w.entries)+len(w.latest)+len(keys))
	if hwm := w.roll.maxT; hwm > w.hwm {
		out = append(out, owned{e: &badger.Entry{Key: hwmKey, Value: binary.BigEndian.AppendUint64(nil, uint64(hwm))}})
	}
	out = append(out, w.entries...)
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
		out = append(out, owned{e: &badger.Entry{Key: latestKey(probe), Value: b, ExpiresAt: exp}, probe: probe})
	}
	for _, k := range keys {
		b := w.roll.buckets[k]
		width := minuteLevel.width
		if k.prefix == prefixHour {
			width = hourLevel.width
		}
		exp := expiresAt(k.start+width, b.ttl)
		if exp <= nowSec {
			continue // past its TTL: nothing to write, and clean
		}
		out = append(out, owned{e: &badger.Entry{Key: seriesKey(k.prefix, k.id, k.start), Value: b.agg.encode(), ExpiresAt: exp},
			probe: b.probe, bucket: &k})
	}
	return out
}

// writeIsolated writes batch so that one probe's bad entry costs only that
// entry: entries Badger refuses are left out of the batch, and if the batch
// still fails as a whole it is written again one probe at a time, and a
// probe's part that fails one entry at a time. What still fails is dropped
// and counted against its probe (write_error), not retried later: a broken
// disk must not grow memory without bound. A full disk is not retried: the
// store stops writing (space.go). It returns the rollup buckets written,
// and the batch's error, if any.
func (w *writer) writeIsolated(batch []owned) ([]bucketKey, error) {
	written := func(parts []owned) []bucketKey {
		var ks []bucketKey
		for _, o := range parts {
			if o.bucket != nil {
				ks = append(ks, *o.bucket)
			}
		}
		return ks
	}
	err := w.flush(batch)
	if err == nil {
		w.wroteHWM(batch)
		return written(batch), nil
	}
	if isNoSpace(err) {
		// The free space looked fine, but the filesystem said otherwise
		// (out of inodes, a quota): stop writing all the same.
		for _, o := range batch {
			w.lost(o, DropDiskFull)
		}
		free, _ := w.s.free()
		w.reopenFor(false, free, time.Now())
		return nil, fmt.Errorf("store: write batch: %w", err)
	}
	w.log.Warn("write batch failed; writing it again one probe at a time", "entries", len(batch), "err", err)

	// The high-water mark goes alone and first: without it, no bucket.
	if len(batch) > 0 && batch[0].probe == "" && bytes.Equal(batch[0].e.Key, hwmKey) {
		if err := w.flush(batch[:1]); err != nil {
			for _, o := range batch[1:] {
				w.lost(o, DropWriteError)
			}
			w.log.Error("write batch failed, samples lost", "err", err)
			return nil, fmt.Errorf("store: write batch: %w", err)
		}
		w.wroteHWM(batch[:1])
		batch = batch[1:]
	}
	var order []string
	byProbe := map[string][]owned{}
	for _, o := range batch {
		if _, ok := byProbe[o.probe]; !ok {
			order = append(order, o.probe)
		}
		byProbe[o.probe] = append(byProbe[o.probe], o)
	}
	var ks []bucketKey
	var failed error
	for _, probe := range order {
		part := byProbe[probe]
		if err := w.flush(part); err == nil {
			ks = append(ks, written(part)...)
			continue
		}
		for _, o := range part {
			one := []owned{o}
			if err := w.flush(one); err != nil {
				w.lost(o, "")
				w.rejected(o.probe, 1, err)
				failed = err
				continue
			}
			ks = append(ks, written(one)...)
		}
	}
	if failed != nil {
		return ks, fmt.Errorf("store: write batch: %w", failed)
	}
	return ks, nil
}

// lost forgets that an entry which was not written was ever made, so what
// the writer would otherwise not write again for a while (a series' index
// entry, a probe's entity states) is written with the next commit; a lost
// sample is counted for reason (none when "": counted already).
func (w *writer) lost(o owned, reason string) {
	switch o.e.Key[0] {
	case prefixIndex:
		if _, _, id, ok := parseIndexKey(o.e.Key); ok {
			delete(w.indexed, id)
		}
	case prefixEntity:
		delete(w.entsAt, o.probe)
	case prefixSample:
		if reason != "" {
			w.s.drop(o.probe, reason, 1)
		}
	}
}

// wroteHWM notes a high-water mark that was written with parts.
func (w *writer) wroteHWM(parts []owned) {
	if len(parts) > 0 && bytes.Equal(parts[0].e.Key, hwmKey) {
		w.hwm = int64(binary.BigEndian.Uint64(parts[0].e.Value))
	}
}

// write commits entries in one WriteBatch. An entry Badger refuses on its
// own (a key over its limit, a value over the value log's size) is left
// out, counted against its probe, and the rest is written; an error that
// spoils the batch (an earlier commit of it failed) ends it.
func (w *writer) write(entries []owned) error {
	wb := w.db.NewWriteBatch()
	for _, o := range entries {
		if len(o.e.Key) > maxKey {
			w.rejected(o.probe, 1, fmt.Errorf("key of %d bytes, over Badger's %d", len(o.e.Key), maxKey))
			continue
		}
		if err := wb.SetEntry(o.e); err != nil {
			if wb.Error() != nil || errors.Is(err, badger.ErrBlockedWrites) || errors.Is(err, badger.ErrDBClosed) {
				wb.Cancel()
				return err
			}
			w.rejected(o.probe, 1, err)
		}
	}
	return wb.Flush()
}
