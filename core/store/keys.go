package store

import (
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
	prefixIndex  byte = 'i' // i | name | 0x00 | series id (8)      -> labels JSON
	prefixLatest byte = 'l' // l | probe                            -> Record JSON
	prefixEvent  byte = 'e' // e | unix ns (8) | seq (4)            -> Event JSON
	prefixEntity byte = 'x' // x | probe                            -> entity states JSON
	prefixMeta   byte = 'z' // z | name                             -> store metadata
)

// hwmKey holds the newest sample time ever rolled up (8 bytes, unix ms).
var hwmKey = []byte{prefixMeta, 'h', 'w', 'm'}

const seriesKeyLen = 1 + 8 + 8

// seriesID is a compact, stable id for a series: FNV-1a 64 of the name and
// the labels sorted by key. Sorting makes the id independent of map order;
// every string is length-prefixed, so no name, label or value can be read
// as another split ({a="bc"} and {ab="c"} differ).
func seriesID(name string, labels map[string]string) uint64 {
	h := fnv.New64a()
	var buf [binary.MaxVarintLen64]byte
	write := func(s string) {
		_, _ = h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		_, _ = h.Write([]byte(s))
	}
	write(name)
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

// indexKey is i | name | 0x00 | id: all series of one name share the prefix
// indexNamePrefix(name), so a query by name scans only its own series.
func indexKey(name string, id uint64) []byte {
	k := make([]byte, 0, 1+len(name)+1+8)
	k = append(k, prefixIndex)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, id)
}

func indexNamePrefix(name string) []byte {
	k := make([]byte, 0, 1+len(name)+1)
	k = append(k, prefixIndex)
	k = append(k, name...)
	return append(k, 0)
}

// parseIndexKey returns the series name and id of an index key.
func parseIndexKey(k []byte) (name string, id uint64, ok bool) {
	if len(k) < 1+1+8 || k[0] != prefixIndex || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[1 : len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
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
