package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Defaults for zero Options fields.
const (
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 2 * time.Second
	DefaultMinFree       = 256 << 20
)

const (
	// eventTTL is how long events (and the last known entity states they
	// are computed from) are kept.
	eventTTL = 30 * 24 * time.Hour
	// queueLen bounds the writer's queue in records, not samples.
	queueLen = 1024
	// putTimeout bounds how long Put waits for room in a full queue before
	// dropping the record: the scheduler must never stall on the store.
	putTimeout = time.Second
	// checkpointEvery bounds how much rollup data a crash can lose: open
	// rollup buckets are written at least this often.
	checkpointEvery = time.Minute
	// gcEvery is how often the value log is garbage collected.
	gcEvery = 10 * time.Minute
)

// numLevelZeroTablesStall is where Badger stops writes until compaction
// has taken level 0 below it.
const numLevelZeroTablesStall = 10

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store: closed")

// Options configure a Store. Zero fields take the defaults above.
type Options struct {
	Dir           string
	Retention     time.Duration // default TTL of samples when a Record has none
	BatchSize     int           // samples buffered before the writer commits
	FlushInterval time.Duration // longest a sample waits before it is committed
	// MinFree is the free space on Dir's filesystem below which the store
	// stops writing, and 5/4 of it the space at which it writes again (see
	// space.go for why it must exceed what Badger may still write).
	MinFree uint64
	Logger  *slog.Logger
}

// Reasons the store drops what a probe reported: with the agent's limits
// they are the reason label of barbossa_probe_dropped_total.
const (
	DropQueueFull  = "queue_full"  // the write queue stayed full for a second (samples of the record)
	DropDiskFull   = "disk_full"   // the store was not writing: too little free space (samples of the record)
	DropWriteError = "write_error" // Badger refused the entry, or its batch failed even alone (entries)
)

// Record is one probe run. Its JSON tags are the store's on-disk format of
// the latest report (the portal serves its own view of it).
type Record struct {
	Probe      string        `json:"probe"`
	Time       time.Time     `json:"time"`
	DurationMS float64       `json:"duration_ms"`
	Report     sdk.Report    `json:"report"`
	Error      string        `json:"error,omitempty"`
	Retention  time.Duration `json:"-"` // samples TTL; 0 => Options.Retention
	StaleAfter time.Duration `json:"-"` // TTL of the latest-report key; 0 => never stale
}

// Store is the agent's time-series and state store. All methods are safe for
// concurrent use.
type Store struct {
	opt Options
	log *slog.Logger

	// mu guards db, closed and the queue's lifetime: senders and readers
	// hold it shared; Close, and the writer when it reopens the database
	// (space.go), hold it exclusively.
	mu     sync.RWMutex
	db     *badger.DB
	closed bool
	queue  chan op

	latestMu sync.Mutex
	latest   map[string]latestEntry // read-your-writes cache of the last Put per probe

	dropped atomic.Uint64 // records and events dropped for a full queue

	dropsMu sync.Mutex
	drops   map[string]map[string]uint64 // by probe and reason

	space spaceState // whether the store writes, and why not (space.go)

	compactors int           // of the open database: 0 outside a compaction window (compact.go)
	windows    atomic.Uint64 // reopens for compaction windows

	w          *writer
	writerDone chan struct{}
	stopGC     chan struct{}
	gcDone     chan struct{}
}

type latestEntry struct {
	rec     Record
	expires time.Time // zero: never
}

// op is one item of the writer's queue: a record, an event, or a flush
// request (ordered with the writes before it).
type op struct {
	rec    *Record
	event  *Event
	flush  chan error
	forget string // a probe removed: let its series go (Forget)
}

// Dropped is how many records and events were dropped because the write
// queue stayed full; the agent exports it in /metrics.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// Drops returns what the store dropped of probe's records, by reason
// (Drop*); nil when nothing.
func (s *Store) Drops(probe string) map[string]uint64 {
	s.dropsMu.Lock()
	defer s.dropsMu.Unlock()
	return maps.Clone(s.drops[probe])
}

// drop counts n items of probe's lost for reason.
func (s *Store) drop(probe, reason string, n uint64) {
	if n == 0 {
		return
	}
	s.dropsMu.Lock()
	defer s.dropsMu.Unlock()
	m := s.drops[probe]
	if m == nil {
		m = map[string]uint64{}
		s.drops[probe] = m
	}
	m[reason] += n
}

// Open opens (or creates) the store in o.Dir and starts its writer.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("store: empty data dir")
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{
		opt:        o,
		log:        o.Logger.With("component", "store"),
		queue:      make(chan op, queueLen),
		latest:     map[string]latestEntry{},
		drops:      map[string]map[string]uint64{},
		writerDone: make(chan struct{}),
		stopGC:     make(chan struct{}),
		gcDone:     make(chan struct{}),
	}
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	s.db = db
	s.w, err = newWriter(s)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.w.run()
	go s.gcLoop()
	return s, nil
}

// badgerOptions are tuned for a small resident footprint rather than write
// throughput: an agent writes a few hundred samples a second at most.
// Measured (docs/PERFORMANCE.md): 2 MiB memtables hold the Go heap of a
// store written at 300 samples/s to 5 MB (13 MB with 8 MiB) and still take
// ~46k samples/s in a burst; 2 MiB caches serve the 24 h queries as fast
// as 8 MiB did (the OS page cache holds the tables).
//
// compactors is 0 but in a compaction window (compact.go): Badger's
// compactors each wake every 50 ms whether or not there is work (a fixed
// ticker), which costs an idle agent ~0.3 % of a core.
//
// Memtables' logs, SSTables and value log files are written through mmap
// into sparse files: that is why the store must stop writing before the
// disk is full (space.go).
func badgerOptions(dir string, log *slog.Logger, compactors int) badger.Options {
	stall := numLevelZeroTablesStall
	if compactors == 0 {
		// With no compactor running nothing would ever lift a stall, and the
		// writer, which opens compaction windows (compact.go), would be the
		// one stalled: one commit larger than level 0's room (a checkpoint
		// of a series explosion's rollup buckets) hung every later write.
		// Level 0 grows past the mark instead, and the window the writer
		// opens after that commit brings it back.
		stall = math.MaxInt32
	}
	return badger.DefaultOptions(dir).
		WithMemTableSize(2 << 20). // default 64 MiB; an arena of 1.3x this is on the Go heap per memtable
		WithNumMemtables(2).       // default 5
		WithNumLevelZeroTables(4). // default 5; 2 compacted more often and was no smaller
		WithNumLevelZeroTablesStall(stall).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithBlockCacheSize(2 << 20).   // default 256 MiB; required with compression
		WithIndexCacheSize(2 << 20).   // default unlimited (0 keeps all indexes in memory)
		WithNumCompactors(compactors). // default 4; 1 is not allowed
		WithValueLogFileSize(64 << 20).
		WithValueThreshold(64 << 10). // must stay below 15% of the memtable
		WithDetectConflicts(false).   // one writer, read-only readers
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		WithLogger(badgerLogger{log})
}

// Put enqueues r for the batching writer. It returns at once unless the
// queue is full, and then waits at most a second before dropping r (counted
// and logged): a slow disk must not stall the scheduler. The caller must not
// modify r after Put. Latest sees r immediately; samples, events and the
// persisted latest report are visible after the next flush.
func (s *Store) Put(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		s.drop(r.Probe, DropQueueFull, uint64(len(r.Report.Metrics)))
		return
	}
	e := latestEntry{rec: r}
	if r.StaleAfter > 0 {
		e.expires = r.Time.Add(r.StaleAfter)
	}
	s.latestMu.Lock()
	s.latest[r.Probe] = e
	s.latestMu.Unlock()
	s.enqueue(op{rec: &r}, "record", r.Probe, uint64(len(r.Report.Metrics)))
}

// AddEvent enqueues an event recorded from outside the store (for example
// an audited action). A zero Time means now.
func (s *Store) AddEvent(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	s.enqueue(op{event: &e}, "event", e.Probe, 0)
}

// enqueue sends o to the writer; s.mu must be held shared. samples is what
// a drop costs probe.
func (s *Store) enqueue(o op, what, probe string, samples uint64) {
	select {
	case s.queue <- o:
		return
	default:
	}
	t := time.NewTimer(putTimeout)
	defer t.Stop()
	select {
	case s.queue <- o:
	case <-t.C:
		n := s.dropped.Add(1)
		s.drop(probe, DropQueueFull, samples)
		s.log.Warn("write queue full, dropped "+what, "probe", probe, "dropped_total", n)
	}
}

// Forget lets the writer's memory of probe's series go once the probe is
// removed: its open rollup buckets are written and dropped, and its index
// entries forgotten, instead of ageing out over the next two hours. Its
// data stays stored; samples that come back (the probe added again) are
// merged with what is stored, as after a restart.
func (s *Store) Forget(probe string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		s.queue <- op{forget: probe}
	}
}

// Flush writes everything enqueued so far, including open rollup buckets,
// and returns when it is committed.
func (s *Store) Flush() error {
	done := make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.queue <- op{flush: done}
	s.mu.RUnlock()
	return <-done
}

// Close flushes everything and closes the database. It is idempotent: later
// calls return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()

	<-s.writerDone // the writer drains the queue and writes everything
	close(s.stopGC)
	<-s.gcDone

	s.mu.Lock() // wait for readers that started before closed was set
	defer s.mu.Unlock()
	werr := s.w.err
	if errors.Is(werr, ErrNotWritable) {
		werr = nil // counted and logged when the store stopped writing
	}
	err := errors.Join(werr, s.db.Close())
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// read runs fn in a read transaction unless the store is closed.
func (s *Store) read(fn func(txn *badger.Txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}

// Latest returns the last report of probe. ok is false when there is none or
// it is stale (older than the StaleAfter it was put with; see NextStale): a
// probe that stopped reporting is never shown as fresh old data.
func (s *Store) Latest(probe string) (Record, bool, error) {
	now := time.Now()
	s.latestMu.Lock()
	e, cached := s.latest[probe]
	if cached && !e.expires.IsZero() && now.After(e.expires) {
		delete(s.latest, probe)
		s.latestMu.Unlock()
		return Record{}, false, nil
	}
	s.latestMu.Unlock()
	if cached {
		return e.rec, true, nil
	}

	// Not put since Open: read what an earlier run persisted. Badger drops
	// it on its own once its TTL (the staleness bound) has passed.
	var rec Record
	var exp uint64
	found := false
	err := s.read(func(txn *badger.Txn) error {
		item, err := txn.Get(latestKey(probe))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found, exp = true, item.ExpiresAt()
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("store: latest %s: %w", probe, err)
	}
	if found {
		// Keep the decoded copy (decoding is most of the cost) unless a Put
		// got there first; it expires with the key.
		e := latestEntry{rec: rec}
		if exp > 0 {
			// Badger hides the key at ExpiresAt; Latest's rule is
			// "stale just after expires".
			e.expires = time.Unix(int64(exp), 0).Add(-time.Nanosecond)
		}
		s.latestMu.Lock()
		if _, ok := s.latest[probe]; !ok {
			s.latest[probe] = e
		}
		s.latestMu.Unlock()
	}
	return rec, found, nil
}

// NextStale is the earliest instant after now at which a latest report
// Latest has served turns stale, so a caller can sleep until then; zero if
// none will. Latest is the one owner of staleness: a report is fresh up to
// its Time plus the StaleAfter it was put with and stale just after (as the
// scheduler's health goes stale, so both flip at one instant).
func (s *Store) NextStale(now time.Time) time.Time {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	var next time.Time
	for _, e := range s.latest {
		at := e.expires.Add(time.Nanosecond)
		if !e.expires.IsZero() && at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// gcLoop reclaims value log space now and then. Most values live in the LSM
// tree (they are small), so this rarely has anything to do.
func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-t.C:
			s.mu.RLock() // a compaction window or a full disk may swap the database
			if !s.closed && s.space.mode() == modeWritable {
				for s.db.RunValueLogGC(0.5) == nil {
				}
			}
			s.mu.RUnlock()
		}
	}
}

// badgerLogger routes Badger's logs to slog. Only warnings and errors pass:
// Badger logs every compaction and table open at info level.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "source", "badger")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

var _ badger.Logger = badgerLogger{}
