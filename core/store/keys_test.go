package store

import (
	"bytes"
	"testing"
	"time"
)

func TestSeriesID(t *testing.T) {
	base := seriesID("system", "system.disk.used_percent", map[string]string{"mount": "/", "device": "sda1"})
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		same   bool
	}{
		{"same labels, other insertion order", "system.disk.used_percent", map[string]string{"device": "sda1", "mount": "/"}, true},
		{"other label value", "system.disk.used_percent", map[string]string{"mount": "/home", "device": "sda1"}, false},
		{"label subset", "system.disk.used_percent", map[string]string{"mount": "/"}, false},
		{"other name", "system.disk.free_bytes", map[string]string{"mount": "/", "device": "sda1"}, false},
	}
	if seriesID("evil", "system.disk.used_percent", map[string]string{"mount": "/", "device": "sda1"}) == base {
		t.Error("another probe's series of the same name and labels has the same id")
	}
	if seriesID("ab", "c", nil) == seriesID("a", "bc", nil) {
		t.Error("probe and name must not be able to trade bytes")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := seriesID("system", tt.metric, tt.labels) == base
			if got != tt.same {
				t.Errorf("seriesID equal to base = %v, want %v", got, tt.same)
			}
		})
	}
	if seriesID("p", "m", nil) != seriesID("p", "m", map[string]string{}) {
		t.Error("nil and empty labels must give the same id")
	}
	if seriesID("p", "m", map[string]string{"a": "bc"}) == seriesID("p", "m", map[string]string{"ab": "c"}) {
		t.Error(`{a="bc"} and {ab="c"} must differ`)
	}
	if seriesID("p", "m", map[string]string{"a": "1", "b": "2"}) == seriesID("p", "m", map[string]string{"a": "1\xffb\x002"}) {
		t.Error("a label value must not be able to forge a second label")
	}
}

func TestSeriesKey(t *testing.T) {
	tests := []struct {
		name   string
		id     uint64
		t      int64
		wantT  int64
		prefix byte
	}{
		{"sample", 42, 1_700_000_000_123, 1_700_000_000_123, prefixSample},
		{"minute bucket", 1<<63 + 5, 1_700_000_040_000, 1_700_000_040_000, prefixMinute},
		{"zero", 0, 0, 0, prefixHour},
		{"negative clamps to 0", 7, -5, 0, prefixSample},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := seriesKey(tt.prefix, tt.id, tt.t)
			if k[0] != tt.prefix || !bytes.HasPrefix(k, seriesPrefix(tt.prefix, tt.id)) {
				t.Fatalf("key %x lacks prefix %c/%d", k, tt.prefix, tt.id)
			}
			id, ts, ok := parseSeriesKey(k)
			if !ok || id != tt.id || ts != tt.wantT {
				t.Errorf("parse = %d, %d, %v; want %d, %d, true", id, ts, ok, tt.id, tt.wantT)
			}
		})
	}
}

func TestSeriesKeyOrderIsTimeOrder(t *testing.T) {
	times := []int64{0, 1, 255, 256, 65_535, 1_700_000_000_000, 1_700_000_000_001, 4_000_000_000_000}
	for i := 1; i < len(times); i++ {
		a, b := seriesKey(prefixSample, 9, times[i-1]), seriesKey(prefixSample, 9, times[i])
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("key(%d) >= key(%d)", times[i-1], times[i])
		}
	}
	// Every point of series 9 sorts before any point of series 10.
	if bytes.Compare(seriesKey(prefixSample, 9, 1<<62), seriesKey(prefixSample, 10, 0)) >= 0 {
		t.Error("series ranges overlap")
	}
}

func TestIndexKey(t *testing.T) {
	for _, tt := range []struct{ name, probe string }{{"system.load.1", "system"}, {"x", "p"}, {"a.b.c_bytes", ""}} {
		k := indexKey(tt.name, tt.probe, 0xdeadbeef)
		if !bytes.HasPrefix(k, indexPrefix(Match{Name: tt.name})) || !bytes.HasPrefix(k, indexPrefix(Match{Name: tt.name, Probe: tt.probe})) {
			t.Errorf("%s: key %q lacks its name and probe prefixes", tt.name, k)
		}
		n, p, id, ok := parseIndexKey(k)
		if !ok || n != tt.name || p != tt.probe || id != 0xdeadbeef {
			t.Errorf("parse(%q) = %q, %q, %x, %v", k, n, p, id, ok)
		}
	}
	// "system.load.1" must not be found when scanning for "system.load",
	// nor probe "systemd"'s series when scanning for probe "system".
	if bytes.HasPrefix(indexKey("system.load.1", "system", 1), indexPrefix(Match{Name: "system.load"})) {
		t.Error("a name prefix matches a longer name")
	}
	if bytes.HasPrefix(indexKey("x", "systemd", 1), indexPrefix(Match{Name: "x", Probe: "system"})) {
		t.Error("a probe prefix matches a longer probe")
	}
	// An id whose bytes hold NULs still parses.
	if n, p, id, ok := parseIndexKey(indexKey("x", "p", 0x0000ff00000000ff)); !ok || n != "x" || p != "p" || id != 0x0000ff00000000ff {
		t.Errorf("id with NUL bytes: %q %q %x %v", n, p, id, ok)
	}
	for _, bad := range [][]byte{nil, {prefixIndex}, []byte("jx\x00"), append([]byte("j\x00p\x00"), make([]byte, 8)...)} {
		if _, _, _, ok := parseIndexKey(bad); ok {
			t.Errorf("parseIndexKey(%q) accepted", bad)
		}
	}
}

func TestEventKeyOrder(t *testing.T) {
	a, b, c := eventKey(1000, 7), eventKey(1000, 8), eventKey(1001, 0)
	if bytes.Compare(a, b) >= 0 || bytes.Compare(b, c) >= 0 {
		t.Error("event keys are not in (time, seq) order")
	}
}

func TestExpiresAt(t *testing.T) {
	tests := []struct {
		ms   int64
		ttl  time.Duration
		want uint64
	}{
		{1_000_000, time.Second, 1001},
		{1_000_001, time.Second, 1002}, // rounded up: never expire early
		{1_000_000, 7 * 24 * time.Hour, 1000 + 7*24*3600},
		{0, 0, 1},
	}
	for _, tt := range tests {
		if got := expiresAt(tt.ms, tt.ttl); got != tt.want {
			t.Errorf("expiresAt(%d, %s) = %d, want %d", tt.ms, tt.ttl, got, tt.want)
		}
	}
}
