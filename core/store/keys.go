package store

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"math"
	"sort"
	"time"
)

// Key prefixes. One byte each, so every kind of record is a contiguous key
// range and a range scan never wanders into another kind.
const (
	prefixSample byte = 's' // s | series id (8) | unix ms (8)      -> float64 (8)
	prefixMinute byte = 'm' // m | series id (8) | bucket ms (8)    -> aggregate (32)
	prefixHour   byte = 'h' // h | series id (8) | bucket ms (8)    -> aggregate (32)
	prefixIndex  byte = 'j' // j | name | 0x00 | probe | 0x00 | series id (8) -> labels JSON
	prefixOldIdx byte = 'i' // i | name | 0x00 | series id (8): format 1's index, migrated at open
	prefixLatest byte = 'l' // l | probe                            -> Record JSON
	prefixEvent  byte = 'e' // e | unix ns (8) | seq (4)            -> Event JSON
	prefixEntity byte = 'x' // x | probe                            -> entity states JSON
	prefixMeta   byte = 'z' // z | name                             -> store metadata
)

// hwmKey holds the newest sample time ever rolled up (8 bytes, unix ms).
var hwmKey = []byte{prefixMeta, 'h', 'w', 'm'}

// formatKey holds the store's format version (8 bytes); see format.go.
var formatKey = []byte{prefixMeta, 'f', 'm', 't'}

const seriesKeyLen = 1 + 8 + 8

// seriesID is a compact, stable id for a series: FNV-1a 64 of the probe
// that reports it, the name and the labels sorted by key. Sorting makes the
// id independent of map order; every string is length-prefixed, so no
// probe, name, label or value can be read as another split ({a="bc"} and
// {ab="c"} differ). Two probes reporting the same name and labels have two
// series.
func seriesID(probe, name string, labels map[string]string) uint64 {
	return hashSeries(labels, probe, name)
}

// hashSeries is FNV-1a 64 of parts, then of labels sorted by key, each
// string length-prefixed. Format 1 hashed the name and labels alone.
func hashSeries(labels map[string]string, parts ...string) uint64 {
	h := fnv.New64a()
	var buf [binary.MaxVarintLen64]byte
	write := func(s string) {
		_, _ = h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		_, _ = h.Write([]byte(s))
	}
	for _, p := range parts {
		write(p)
	}
	if len(labels) > 0 {
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			write(k)
			write(labels[k])
		}
	}
	return h.Sum64()
}

// putTime writes a big-endian time into dst. Negative times (before 1970)
// are clamped to 0 so that byte order stays time order.
func putTime(dst []byte, t int64) {
	if t < 0 {
		t = 0
	}
	binary.BigEndian.PutUint64(dst, uint64(t))
}

// seriesKey is prefix | id | t: the key of a raw sample (t in unix ms) or of
// a rollup bucket (t is the bucket start). All points of one series are one
// contiguous, time-ordered range.
func seriesKey(prefix byte, id uint64, t int64) []byte {
	k := make([]byte, seriesKeyLen)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:9], id)
	putTime(k[9:], t)
	return k
}

// seriesPrefix is the key prefix shared by every point of one series.
func seriesPrefix(prefix byte, id uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:9], id)
	return k
}

// parseSeriesKey returns the id and time of a series key.
func parseSeriesKey(k []byte) (id uint64, t int64, ok bool) {
	if len(k) != seriesKeyLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(k[1:9]), int64(binary.BigEndian.Uint64(k[9:])), true
}

// indexKey is j | name | 0x00 | probe | 0x00 | id: all series of one name
// share a prefix, and within it all of one probe, so a query by name (and
// probe) scans only its own series. Neither a name nor a probe holds a NUL
// (names are checked when written, probe names by the config).
func indexKey(name, probe string, id uint64) []byte {
	k := make([]byte, 0, 1+len(name)+1+len(probe)+1+8)
	k = append(k, prefixIndex)
	k = append(k, name...)
	k = append(k, 0)
	k = append(k, probe...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// indexPrefix is the prefix of the index keys m can match: those of its
// name, and of its probe too when it names both; every key when it names
// no series.
func indexPrefix(m Match) []byte {
	k := []byte{prefixIndex}
	if m.Name == "" {
		return k
	}
	k = append(k, m.Name...)
	k = append(k, 0)
	if m.Probe != "" {
		k = append(k, m.Probe...)
		k = append(k, 0)
	}
	return k
}

// parseIndexKey returns the series name, probe and id of an index key.
func parseIndexKey(k []byte) (name, probe string, id uint64, ok bool) {
	if len(k) < 1+1+1+8 || k[0] != prefixIndex || k[len(k)-9] != 0 {
		return "", "", 0, false
	}
	rest := k[1 : len(k)-9]
	i := bytes.IndexByte(rest, 0)
	if i < 1 {
		return "", "", 0, false
	}
	return string(rest[:i]), string(rest[i+1:]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}

func latestKey(probe string) []byte { return append([]byte{prefixLatest}, probe...) }

func entityKey(probe string) []byte { return append([]byte{prefixEntity}, probe...) }

// eventKey is e | unix ns | seq: time-ordered, and seq keeps two events of
// the same nanosecond apart.
func eventKey(ns int64, seq uint32) []byte {
	k := make([]byte, 1+8+4)
	k[0] = prefixEvent
	putTime(k[1:9], ns)
	binary.BigEndian.PutUint32(k[9:], seq)
	return k
}

func encodeFloat(v float64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v))
}

func decodeFloat(b []byte) (float64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), true
}

// expiresAt converts "t plus ttl" into Badger's unix-second expiry, rounded
// up so an entry never expires before its full TTL has passed.
func expiresAt(tMillis int64, ttl time.Duration) uint64 {
	ms := tMillis + ttl.Milliseconds()
	if ms <= 0 {
		return 1
	}
	return uint64((ms + 999) / 1000)
}
