package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Why the store watches free space.
//
// Badger writes its memtables (a 16 MB sparse file each), its value log
// (128 MB sparse) and every SSTable it flushes or compacts through mmap:
// the file is truncated to its full size without allocating blocks, then
// written in memory. When the filesystem has no block left for a page, the
// kernel answers the write with SIGBUS, which Go cannot recover from: the
// agent dies, and dies again on every start, because opening a store
// creates a memtable and writes its header the same way (Badger issues
// #1682 and #1801; reproduced on a full tmpfs with v4.9.6).
//
// So the store never lets Badger near the end of the disk. Before every
// commit the writer reads the free space (statfs); below MinFree it closes
// the database — Badger flushes its memtable, a few MB — and reopens it
// read-only, in which mode Badger creates and writes nothing: history is
// served, new records are dropped and counted. Every spaceCheckEvery it
// looks again, and at 5/4 of MinFree it reopens the database for writing.
// At Open the same rule applies, and a store that cannot be opened even
// read-only (it does not exist yet, or a crashed writer left a memtable to
// replay) is replaced by an empty in-memory stand-in until there is room.
//
// While it writes, the store holds a reserve: a file (RESERVE, in Dir) of
// MinFree/4, at most 64 MiB, of allocated blocks. Stopping deletes it
// first, so the memtable flush at close has room even when another process
// took every free block since the last look; resuming takes it again. Free
// space is counted with the reserve in it.
//
// MinFree must exceed what Badger may still write after the writer stops:
// the memtable flush at close (up to twice 8 MB, which the reserve
// covers), compactions already running (two compactors; with these options
// an L0 compaction rewrites up to ~40 MB), and what other processes write
// between two looks. The default, 256 MiB, covers that with room to spare.
// What no check outside Badger can prevent: another process taking the
// last free block while Badger is in the middle of a compaction or a
// commit; only a reserve inside Badger could. Nor between the look that
// stops the store and Badger's close flush, if another process takes the
// released reserve first; that is why an idle store does not look at all:
// the writer's timer is stopped once a commit leaves nothing pending.

// spaceCheckEvery is how often a store that stopped writing looks at the
// free space again.
const spaceCheckEvery = 5 * time.Second

// ErrNotWritable is returned by Flush while the store is not writing.
var ErrNotWritable = errors.New("store: not writing: too little free space")

// mode is how the database is open.
type mode int

const (
	modeWritable mode = iota // writing
	modeReadOnly             // the store on disk, read-only: history is served, nothing is written
	modeStandIn              // an empty in-memory stand-in: the store on disk could not be opened
)

// spaceState is whether the store writes. The writer changes it; Health
// and the value log GC read it.
type spaceState struct {
	mu      sync.Mutex
	m       mode
	reason  string
	since   time.Time
	free    uint64
	checked time.Time
	lastErr string // of the last failed reopen, logged once
	dropped uint64 // records and events not written while not writing
}

func (sp *spaceState) mode() mode {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.m
}

// set records the mode and reports whether it changed (the first set
// does), so that each change is logged once.
func (sp *spaceState) set(m mode, reason string, free uint64, now time.Time) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	changed := m != sp.m || sp.since.IsZero()
	if changed {
		sp.since = now
	}
	sp.m, sp.reason, sp.free, sp.checked = m, reason, free, now
	return changed
}

// Health is whether the store is writing, for the API and /metrics (the
// portal has its own JSON of it).
type Health struct {
	Writable bool
	// Error says why not, and what is served meanwhile.
	Error        string
	Since        time.Time // when the store began writing, or stopped
	FreeBytes    uint64    // at the last look
	MinFreeBytes uint64
	// Dropped counts records and events not written because the store was
	// not writing, since the agent started.
	Dropped uint64
}

// Health reports whether the store is writing.
func (s *Store) Health() Health {
	sp := &s.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return Health{
		Writable: sp.m == modeWritable, Error: sp.reason, Since: sp.since,
		FreeBytes: sp.free, MinFreeBytes: s.opt.MinFree, Dropped: sp.dropped,
	}
}

// resumeAt is the free space at which a store that stopped writes again:
// above MinFree, so that it does not flap around it.
func (s *Store) resumeAt() uint64 { return s.opt.MinFree + s.opt.MinFree/4 }

const reserveName = "RESERVE"

// reserveSize is the space the store holds back while it writes.
func (s *Store) reserveSize() int64 { return int64(min(s.opt.MinFree/4, 64<<20)) }

// free is the space the store may count on: the filesystem's free space
// plus its own reserve.
func (s *Store) free() (uint64, error) {
	free, err := freeSpace(s.opt.Dir)
	if err != nil {
		return 0, err
	}
	if st, err := os.Stat(filepath.Join(s.opt.Dir, reserveName)); err == nil {
		free += uint64(st.Size())
	}
	return free, nil
}

// holdReserve allocates the reserve file, if it is not there already. A
// filesystem without fallocate holds none (the reserve is a safety margin,
// not a condition for writing).
func (s *Store) holdReserve() {
	path := filepath.Join(s.opt.Dir, reserveName)
	if st, err := os.Stat(path); err == nil && st.Size() == s.reserveSize() {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		s.log.Warn("store: cannot create its space reserve", "err", err)
		return
	}
	err = allocate(f, s.reserveSize())
	f.Close()
	if err != nil {
		_ = os.Remove(path)
		if !errors.Is(err, errors.ErrUnsupported) {
			s.log.Warn("store: cannot allocate its space reserve", "size", mib(uint64(s.reserveSize())), "err", err)
		}
	}
}

// releaseReserve gives the reserve's blocks back, for Badger's last flush.
func (s *Store) releaseReserve() {
	if err := os.Remove(filepath.Join(s.opt.Dir, reserveName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("store: cannot release its space reserve", "err", err)
	}
}

func isNoSpace(err error) bool {
	// Badger wraps errors as text (%+v), so errors.Is alone misses them.
	return errors.Is(err, syscall.ENOSPC) || err != nil && strings.Contains(err.Error(), syscall.ENOSPC.Error())
}

// mib formats a byte count for messages.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// lowReason says why the store is not writing with free bytes left.
func (s *Store) lowReason(free uint64) string {
	return fmt.Sprintf("disk nearly full: %s free in %s, below [store] min_free %s; writing resumes at %s free",
		mib(free), s.opt.Dir, mib(s.opt.MinFree), mib(s.resumeAt()))
}

// openDB opens the database for Open: for writing when there is room,
// else read-only, else an empty stand-in. Only errors that more space
// would not cure (a newer format, corruption, a lock held by another
// process) fail Open.
func (s *Store) openDB() (*badger.DB, error) {
	dir := s.opt.Dir
	now := time.Now()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		if !isNoSpace(err) {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		return s.openStandIn(fmt.Sprintf("disk full: cannot create %s", dir), 0, now)
	}
	free, err := s.free()
	if err != nil {
		return nil, fmt.Errorf("store: free space in %s: %w", dir, err)
	}
	if free >= s.opt.MinFree {
		db, err := s.openWritable()
		if err == nil {
			s.space.set(modeWritable, "", free, now)
			return db, nil
		}
		if !isNoSpace(err) {
			return nil, err
		}
		free, _ = s.free()
	}
	return s.openReadOnly(free, now)
}

// openWritable opens the database for writing, brings it to the current
// format and takes the space reserve.
func (s *Store) openWritable() (*badger.DB, error) {
	db, err := badger.Open(badgerOptions(s.opt.Dir, s.log, 0))
	if err != nil {
		return nil, fmt.Errorf("store: open badger in %s: %w", s.opt.Dir, err)
	}
	if err := upgrade(db, s.opt.Dir, s.log); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	s.holdReserve()
	return db, nil
}

// openReadOnly opens the database read-only for a disk with free bytes
// left, or the stand-in when even that fails. It logs why, once.
func (s *Store) openReadOnly(free uint64, now time.Time) (*badger.DB, error) {
	reason := s.lowReason(free)
	db, err := badger.Open(badgerOptions(s.opt.Dir, s.log, 0).WithReadOnly(true))
	if err != nil {
		return s.openStandIn(reason+"; stored history unavailable until then (read-only open failed: "+err.Error()+")", free, now)
	}
	v, err := checkFormat(db, s.opt.Dir)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if v < formatVersion {
		reason += fmt.Sprintf("; the store is in format %d and lists no series until it can be migrated", v)
	}
	if s.space.set(modeReadOnly, reason+"; stored history is served", free, now) {
		s.log.Error("store not writing: "+reason+"; stored history is served, new samples are dropped and counted", "dir", s.opt.Dir)
	}
	return db, nil
}

// openStandIn opens an empty in-memory database in place of the store.
func (s *Store) openStandIn(reason string, free uint64, now time.Time) (*badger.DB, error) {
	db, err := badger.Open(badgerOptions("", s.log, 0).WithInMemory(true))
	if err != nil {
		return nil, fmt.Errorf("store: open in-memory stand-in: %w", err)
	}
	if s.space.set(modeStandIn, reason, free, now) {
		s.log.Error("store not writing: "+reason+"; new samples are dropped and counted", "dir", s.opt.Dir)
	}
	return db, nil
}

// reopenFor closes the database and opens it again as writable decides,
// without compactors (a compaction window opens later if the levels need
// one). It runs on the writer's goroutine; readers wait meanwhile. It
// returns the mode the store ends up in.
func (w *writer) reopenFor(writable bool, free uint64, now time.Time) mode {
	s := w.s
	if !writable {
		s.releaseReserve() // room for the flush of closing, even at Close
	}
	if !w.lockStore() {
		return s.space.mode() // closing: Close takes it from here
	}
	defer s.mu.Unlock()
	if s.closed {
		return s.space.mode()
	}
	if err := s.db.Close(); err != nil {
		s.log.Warn("store: closing the database to reopen it", "err", err)
	}
	var db *badger.DB
	var err error
	if writable {
		if db, err = s.openWritable(); err == nil {
			s.space.set(modeWritable, "", free, now)
			s.log.Info("store writing again", "dir", s.opt.Dir, "free", mib(free))
		} else {
			s.space.mu.Lock()
			first := s.space.lastErr != err.Error()
			s.space.lastErr = err.Error()
			s.space.mu.Unlock()
			if first {
				s.log.Error("store: reopening for writing failed; staying read-only", "err", err)
			}
		}
	}
	if db == nil {
		if db, err = s.openReadOnly(free, now); err != nil {
			db, _ = s.openStandIn(s.lowReason(free)+"; "+err.Error(), free, now)
		}
	}
	s.db, w.db = db, db
	s.compactors = 0
	return s.space.mode()
}

// canWrite is the writer's look at the free space before a commit. A
// writing store whose free space fell below MinFree stops (reopening
// read-only); a store that stopped looks again every spaceCheckEvery and
// resumes at resumeAt. It reports whether the store is writing.
func (w *writer) canWrite(now time.Time) bool {
	s := w.s
	m := s.space.mode()
	if m != modeWritable {
		s.space.mu.Lock()
		due := now.Sub(s.space.checked) >= spaceCheckEvery
		if due {
			s.space.checked = now
		}
		s.space.mu.Unlock()
		if !due {
			return false
		}
	}
	free, err := s.free()
	if err != nil {
		return m == modeWritable // cannot tell: keep doing what it did
	}
	s.space.mu.Lock()
	s.space.free = free
	s.space.mu.Unlock()
	switch {
	case m == modeWritable && free < s.opt.MinFree:
		w.reopenFor(false, free, now)
		return false
	case m != modeWritable && free >= s.resumeAt():
		if w.reopenFor(true, free, now) != modeWritable {
			return false
		}
		if err := w.reload(); err != nil {
			s.log.Error("store: reading state after reopening", "err", err)
		}
		return true
	}
	return m == modeWritable
}
