// Package store keeps what probes report in an embedded BadgerDB: samples
// with TTL-based retention, per-minute and per-hour rollups, the latest
// report of every probe, and events for entity state transitions.
//
//	s, err := store.Open(store.Options{Dir: "/var/lib/barbossa"})
//	if err != nil { ... }
//	defer s.Close()
//	s.Put(store.Record{Probe: "system", Time: time.Now(), Report: rep, StaleAfter: 3 * time.Minute})
//	series, err := s.Query(store.Query{Name: "system.load.1", Probe: "system", From: time.Now().Add(-24 * time.Hour), Step: 5 * time.Minute})
//	page, next, err := s.SeriesList(store.Match{Probe: "system"}, "", 1000) // then SeriesList(m, next, 1000) until next == ""
//
// # Writes
//
// Put never writes: it hands the record to one writer goroutine over a
// bounded queue (1024 records; a full queue makes Put wait at most a second,
// then the record is dropped and logged, so a slow disk cannot stall the
// scheduler). The writer batches entries into a Badger WriteBatch and
// commits when BatchSize samples are buffered or every FlushInterval, and
// everything on Flush and Close. Latest sees a Put at once; samples, events
// and series appear in queries after the next commit.
//
// The store trusts no caller to have checked a record (the agent's limits,
// core/limits, do): an entry Badger refuses — a key over its 65,000 bytes,
// a value over the value log's size — is left out of its batch and counted
// against its probe (Drops, reason write_error); a batch that still fails
// is written again one probe at a time, then one entry at a time, so what
// one probe sent never costs another probe's samples. The writer forgets a
// series an hour after its last sample (its index entry is rewritten when
// it reports again) and its rollup state after two, so its memory follows
// the active series, not every series ever seen.
//
// # Keys
//
// Every kind of record has a one-byte prefix, so each is its own key range:
//
//	s | series id | unix ms                  raw sample, float64            TTL retention
//	m | series id | bucket                   minute rollup min,max,sum,count TTL see below
//	h | series id | bucket                   hour rollup                     TTL see below
//	j | name 0x00 | probe 0x00 | series id   series index: labels JSON       TTL of hour rollups
//	l | probe                                latest Record JSON              TTL stale_after
//	e | unix ns   | seq                      Event JSON                      TTL 30 days
//	x | probe                                last entity states JSON         TTL 30 days
//	z | hwm                                  rollup high-water mark, unix ms no TTL
//	z | fmt                                  format version (format.go)      no TTL
//
// A series belongs to the probe that reported it: its id is FNV-1a 64 of
// the probe, the metric name and its labels sorted by key, so a probe that
// reports another probe's metric name gets a series of its own, which no
// query merges with the other's. Times are big-endian, so one series over a
// range is one prefix iteration in time order. Query and SeriesList read
// the index; a query by name (and probe) scans only that name's (and
// probe's) index entries and filters on labels. SeriesList pages through
// the index in key order; its cursor is the last key of a page, so a page
// costs its own size in memory whatever the number of series. A store of
// format 1 (series without a probe, index under i) is migrated when it is
// first opened for writing: see format.go.
// Expiry is computed from the sample's own time (t + TTL, rounded up to
// Badger's one-second granularity): retention means "the last 7 days", and
// a back-filled sample older than that is not written at all.
//
// # Rollups
//
// For every sample the writer updates an in-memory minute and hour bucket
// (min, max, sum, count). A bucket is written whole when a newer bucket of
// its series begins, when it has been idle for two bucket widths, at least
// every minute while open (so a crash loses at most a minute of rollups),
// and on Flush and Close. When the writer first touches a bucket that may
// already be stored it starts from the stored one, so a bucket that spans a
// restart, or gets a late sample, is merged rather than double counted or
// overwritten. "May be stored" is decided without a read: a high-water mark
// (the newest sample time rolled up, written ahead of the buckets in every
// batch) covers earlier runs, and the writer remembers its own buckets, so
// a bucket opened in real time costs no lookup.
//
// Rollup TTLs grow with the raw retention r: minute rollups keep 4r capped
// at 30 days (28 days for the 7 day default), hour rollups 52r capped at 400
// days (364 days by default); neither is ever shorter than r. A series
// sampled every 10 s has 6x fewer minute buckets than samples and 360x
// fewer hour buckets, so a month of minute data costs about what 5 days of
// raw data do, and a year of hours about what a day of raw data does.
//
// Query picks its source by Step: hour rollups when Step >= 1h, minute
// rollups when Step >= 1m, raw samples below that. It then averages into
// Step-wide buckets (sum/count, so coarser steps are weighted exactly).
//
// # Latest and staleness
//
// The latest Record of each probe is stored as JSON under its own key with
// TTL = Record.StaleAfter. Latest returns false once that has passed, so a
// probe that stopped reporting shows as stale, never as fresh old data. (A
// Put is also kept in memory and goes stale to the millisecond; after a
// restart the bound comes from Badger, which rounds up to whole seconds.)
//
// # Events
//
// The writer compares each report's entities (by kind and id) with the
// previous report of the same probe, kept in memory and persisted per probe
// so it survives a restart. A change of State or Health is an event; an
// entity that appears has From ""; one that is no longer reported has To
// "gone". A probe's very first report sets the baseline without events, and
// a failed run (Record.Error set) is not compared at all: a probe that could
// not run says nothing about its entities. Events are kept 30 days.
//
// # A full disk
//
// Badger writes through mmap into sparse files, and a full disk answers
// that with SIGBUS. Before every commit the writer reads the free space;
// below Options.MinFree the store reopens Badger read-only (history is
// served, new records are dropped and counted, Health says why) and writes
// again at 5/4 of it. On a disk already full it opens read-only, or as an
// empty in-memory stand-in when there is no store to open. See space.go.
//
// # Footprint
//
// Badger is tuned for memory, not throughput: 2 memtables of 8 MB, an 8 MB
// block cache, a 4 MB index cache, 2 compactors, 64 MB value log files, no
// conflict detection. Badger's logs go to slog at warn level and above.
// Measured with TestFootprint (2 cores, Go 1.26): 300 samples/s for 30 s
// settles at ~21 MB resident for the whole test process; a million samples
// written as fast as possible peak at 175-225 MB, mostly GC slack from
// compaction buffers, and at 110-140 MB with GOMEMLIMIT=100MiB at the same
// throughput. The embedding process should set a Go memory limit, but well
// above the store's working set: below it the GC thrashes.
package store
