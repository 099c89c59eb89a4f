package store

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Compaction windows.
//
// Badger's compactors each wake every 50 ms, work or not (a fixed ticker
// in its levels.go): two of them cost an idle agent ~0.3 % of a core, its
// whole CPU budget (docs/PERFORMANCE.md). Badger has no way to pause them,
// but it runs with none (NumCompactors 0), and then level 0 only grows.
// So the store runs without compactors, and opens a compaction window when
// Badger would have work: when level 0 holds NumLevelZeroTables tables, or
// any level is over its target size (a score of 1, as Badger's own
// compactors decide). The writer then reopens the database with two
// compactors, and again without them once every level is back under its
// target. An agent writing a few hundred samples a second fills a 2 MiB
// memtable every few minutes: a window every hour or so, of a second or
// two.
//
// Level 0 never stalls writes: the writer checks after every commit (at
// most BatchSize samples, or FlushInterval, apart, and after every Flush),
// and without compactors Badger is told never to stall (store.go), since
// one commit may be far larger than the room between the trigger and
// numLevelZeroTablesStall: a checkpoint writes every open rollup bucket.

const (
	// windowCompactors is how many compactors a window runs (Badger needs 0
	// or at least 2).
	windowCompactors = 2
	// windowCheck is how often an open window checks whether the levels
	// have settled, when no commit comes sooner.
	windowCheck = time.Second
)

// compacting reports whether a window is open.
func (w *writer) compacting() bool { return w.db.Opts().NumCompactors > 0 }

// compact opens or closes a compaction window as the levels require.
func (w *writer) compact() {
	if w.s.space.mode() != modeWritable {
		return // a store that stopped writing is open read-only, or in memory
	}
	need := needsCompaction(w.db.Levels())
	switch open := w.compacting(); {
	case need && !open:
		w.reopen(windowCompactors)
	case !need && open:
		w.reopen(0)
	}
}

// needsCompaction reports whether Badger's compactors would pick a level:
// one scored 1 or more (level 0 by its table count, the others by size).
func needsCompaction(levels []badger.LevelInfo) bool {
	for _, l := range levels {
		if l.Score >= 1 || l.Adjusted >= 1 {
			return true
		}
	}
	return false
}

// reopen closes the database and opens it again with n compactors. It runs
// on the writer's goroutine between commits; readers wait for it (tens of
// milliseconds).
func (w *writer) reopen(n int) {
	s := w.s
	if !w.lockStore() {
		return // closing: Close takes it from here
	}
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	start := time.Now()
	err := s.db.Close()
	db, openErr := badger.Open(badgerOptions(s.opt.Dir, s.log, n))
	if openErr != nil {
		// Try as it was, so the store goes on working.
		db, openErr = badger.Open(badgerOptions(s.opt.Dir, s.log, w.s.compactors))
	}
	if openErr != nil {
		s.log.Error("store: cannot reopen the database: writes and reads fail from now on", "err", openErr)
		return
	}
	s.db, w.db = db, db
	if err != nil {
		s.log.Warn("store: closing for a compaction window", "err", err)
	}
	s.compactors = db.Opts().NumCompactors
	s.windows.Add(1)
	s.log.Debug("compaction window "+map[bool]string{true: "opened", false: "closed"}[n > 0], "compactors", n, "took", time.Since(start))
}

// lockStore takes the store's lock for a reopen, on the writer's
// goroutine. While it waits for readers to finish it keeps taking ops off
// the queue, so a Put or Flush holding the store's read lock on a full
// queue cannot deadlock with it; they are kept in w.held, in order, and
// handled once the commit or reopen in progress is done (a flush handled
// inside a commit would commit within it). It reports false when the
// store is closing.
func (w *writer) lockStore() bool {
	for !w.s.mu.TryLock() {
		select {
		case o, ok := <-w.s.queue:
			if !ok {
				return false
			}
			w.held = append(w.held, o)
		case <-time.After(time.Millisecond):
		}
	}
	return true
}

// compactingNow reports whether a compaction window is open.
func (s *Store) compactingNow() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactors > 0
}

// CompactionWindows is how many times the store has reopened its database
// to start or end a compaction window.
func (s *Store) CompactionWindows() uint64 { return s.windows.Load() }

// LevelZeroTables is how many tables level 0 holds now.
func (s *Store) LevelZeroTables() (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	for _, l := range s.db.Levels() {
		if l.Level == 0 {
			return l.NumTables, nil
		}
	}
	return 0, fmt.Errorf("store: no level 0")
}
