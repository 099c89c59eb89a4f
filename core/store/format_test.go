package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// formatOneID is format 1's series id: name and labels, no probe.
func formatOneID(name string, labels map[string]string) uint64 { return hashSeries(labels, name) }

// writeFormatOne lays out a store as the previous release wrote it: index
// entries i | name | 0 | id and samples under the probe-less id.
func writeFormatOne(t *testing.T, dir string, at time.Time, series map[string]map[string]string) {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, slog.New(slog.DiscardHandler), 0))
	if err != nil {
		t.Fatal(err)
	}
	wb := db.NewWriteBatch()
	for name, labels := range series {
		id := formatOneID(name, labels)
		b, _ := json.Marshal(labels)
		k := append(append([]byte{prefixOldIdx}, name...), 0)
		k = binary.BigEndian.AppendUint64(k, id)
		exp := uint64(at.Add(24 * time.Hour).Unix())
		if err := wb.SetEntry(&badger.Entry{Key: k, Value: b, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := wb.SetEntry(&badger.Entry{Key: seriesKey(prefixSample, id, at.Add(time.Duration(i)*time.Second).UnixMilli()), Value: encodeFloat(float64(i)), ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A format-1 name holding a NUL: format 2 cannot key it.
	bad := binary.BigEndian.AppendUint64([]byte("ia\x00b\x00"), 7)
	if err := wb.Set(bad, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A store of the previous format is migrated at open: its series stay
// queryable, with probe "", and new samples go to per-probe series.
func TestMigrateFromFormatOne(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeFormatOne(t, dir, at, map[string]map[string]string{
		"system.load.1":    {},
		"system.disk.used": {"mount": "/"},
	})
	var logs strings.Builder
	s := openTest(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "store migrated to format 2") || !strings.Contains(logs.String(), "series=2") {
		t.Errorf("migration not logged: %s", logs.String())
	}
	got, err := s.Query(Query{Name: "system.disk.used", From: at.Add(-time.Minute)})
	if err != nil || len(got) != 1 || got[0].Probe != "" || got[0].Labels["mount"] != "/" || len(got[0].Points) != 3 {
		t.Fatalf("migrated series: %+v, %v", got, err)
	}
	s.Put(record("system", time.Now(), gauge("system.load.1", 0.5, nil)))
	mustFlush(t, s)
	got, err = s.Query(Query{Name: "system.load.1", From: at.Add(-time.Minute)})
	if err != nil || len(got) != 2 || got[0].Probe != "" || len(got[0].Points) != 3 || got[1].Probe != "system" || len(got[1].Points) != 1 {
		t.Fatalf("old and new series of system.load.1: %+v, %v", got, err)
	}
	if v, err := readFormat(s.db); err != nil || v != formatVersion {
		t.Errorf("format after migration: %d, %v", v, err)
	}
	err = s.read(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixOldIdx}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			t.Errorf("format-1 index key %q left", it.Item().Key())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Opening again migrates nothing more.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	s = openTest(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if strings.Contains(logs.String(), "migrated") {
		t.Errorf("migrated twice: %s", logs.String())
	}
	if list, _, err := s.SeriesList(Match{}, "", 0); err != nil || len(list) != 3 {
		t.Errorf("series after reopening: %+v, %v", list, err)
	}
}

// A store written by a newer Barbossa is refused with what to do.
func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badgerOptions(dir, slog.New(slog.DiscardHandler), 0))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set(formatKey, binary.BigEndian.AppendUint64(nil, formatVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), "holds format 3, this barbossa reads up to 2: run a newer barbossa, or move the folder away") {
		t.Errorf("Open = %v", err)
	}
}
