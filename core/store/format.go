package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// formatVersion is the layout this code writes, kept under formatKey:
//
//	1  (no key) series ids hash name and labels; the index is i | name | 0 | id
//	2  series belong to a probe: ids hash probe, name and labels; the index is
//	   j | name | 0 | probe | 0 | id
//
// A format-1 store is migrated when it is first opened for writing: each
// index entry moves to the format-2 index with probe "" (its samples and
// rollups keep their keys), because format 1 never recorded which probe
// wrote a series — in a store a hostile probe wrote into, nothing can tell.
// Those series keep answering queries, listed with "probe": "", until their
// retention ends. New samples go to new, per-probe series.
const formatVersion = 2

// ErrNewerFormat is wrapped by Open's error for a store written by a newer
// Barbossa.
var ErrNewerFormat = errors.New("store format is newer than this barbossa")

// readFormat returns the store's format version: 1 when it has none.
func readFormat(db *badger.DB) (uint64, error) {
	v := uint64(1)
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("format key holds %d bytes, want 8", len(b))
			}
			v = binary.BigEndian.Uint64(b)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read store format: %w", err)
	}
	return v, nil
}

// checkFormat refuses a store this code cannot read, saying what to do.
func checkFormat(db *badger.DB, dir string) (uint64, error) {
	v, err := readFormat(db)
	if err != nil {
		return 0, err
	}
	if v > formatVersion {
		return v, fmt.Errorf("%w: %s holds format %d, this barbossa reads up to %d: run a newer barbossa, or move the folder away to start a new history",
			ErrNewerFormat, dir, v, formatVersion)
	}
	return v, nil
}

// migrateBatch is how many index entries one migration step moves.
const migrateBatch = 10_000

// upgrade brings a writable store to formatVersion. It is idempotent and
// safe to interrupt: each step moves entries out of the format-1 index
// (deleting them there) in one batch, and the version is written last.
func upgrade(db *badger.DB, dir string, log *slog.Logger) error {
	v, err := checkFormat(db, dir)
	if err != nil || v == formatVersion {
		return err
	}
	moved, skipped := 0, 0
	for {
		n, bad, err := migrateStep(db)
		if err != nil {
			return fmt.Errorf("migrate store to format %d: %w", formatVersion, err)
		}
		moved, skipped = moved+n-bad, skipped+bad
		if n < migrateBatch {
			break
		}
	}
	wb := db.NewWriteBatch()
	if err := wb.Set(formatKey, binary.BigEndian.AppendUint64(nil, formatVersion)); err != nil {
		wb.Cancel()
		return fmt.Errorf("write store format: %w", err)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write store format: %w", err)
	}
	if moved+skipped > 0 {
		log.Info("store migrated to format 2: series stored before now carry no probe (listed with probe \"\") until their retention ends",
			"dir", dir, "series", moved, "unreadable_dropped", skipped)
	}
	return nil
}

type oldEntry struct {
	key, value []byte
	expires    uint64
}

// migrateStep moves up to migrateBatch format-1 index entries. It returns
// how many it read and how many of those were unreadable (a name with a
// NUL, which format 2 cannot key) and only deleted.
func migrateStep(db *badger.DB) (n, bad int, err error) {
	var old []oldEntry
	err = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixOldIdx}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && len(old) < migrateBatch; it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			old = append(old, oldEntry{item.KeyCopy(nil), v, item.ExpiresAt()})
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, 0, err
	}
	wb := db.NewWriteBatch()
	for _, e := range old {
		k := e.key
		if len(k) >= 1+1+1+8 && k[len(k)-9] == 0 && bytes.IndexByte(k[1:len(k)-9], 0) < 0 {
			name := string(k[1 : len(k)-9])
			id := binary.BigEndian.Uint64(k[len(k)-8:])
			if err := wb.SetEntry(&badger.Entry{Key: indexKey(name, "", id), Value: e.value, ExpiresAt: e.expires}); err != nil {
				wb.Cancel()
				return 0, 0, err
			}
		} else {
			bad++
		}
		if err := wb.Delete(k); err != nil {
			wb.Cancel()
			return 0, 0, err
		}
	}
	return len(old), bad, wb.Flush()
}
