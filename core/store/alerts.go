package store

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// What alerting keeps (core/alert): alerts, the outbox of notifications
// and silences, each a JSON value under a key the alert package chooses.
// They are written at once, in one transaction, not through the batching
// writer: a firing alert and the notification it queued must be on disk
// together, or neither.
const (
	prefixAlert   byte = 'a' // a | key -> alert JSON
	prefixOutbox  byte = 'o' // o | key -> notification JSON
	prefixSilence byte = 'q' // q | id  -> silence JSON
)

// AlertData is everything alerting kept, by kind and key.
type AlertData struct {
	Alerts, Outbox, Silences map[string][]byte
}

// AlertWrite is one change to what alerting keeps: a nil value deletes its
// key. Events are recorded with it (alert transitions).
type AlertWrite struct {
	Alerts, Outbox, Silences map[string][]byte
	Events                   []Event
}

// alertEventSeq tells apart alert events of one nanosecond; it counts from
// the top half of the range so it never meets the writer's sequence.
var alertEventSeq atomic.Uint32

func init() { alertEventSeq.Store(1 << 31) }

// AlertData reads everything alerting kept.
func (s *Store) AlertData() (AlertData, error) {
	d := AlertData{Alerts: map[string][]byte{}, Outbox: map[string][]byte{}, Silences: map[string][]byte{}}
	err := s.read(func(txn *badger.Txn) error {
		for prefix, into := range map[byte]map[string][]byte{prefixAlert: d.Alerts, prefixOutbox: d.Outbox, prefixSilence: d.Silences} {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = []byte{prefix}
			it := txn.NewIterator(opts)
			for it.Rewind(); it.Valid(); it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					it.Close()
					return err
				}
				into[string(it.Item().Key()[1:])] = v
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return AlertData{}, fmt.Errorf("store: alert data: %w", err)
	}
	return d, nil
}

// WriteAlerts applies w in one transaction and returns once it is
// committed.
func (s *Store) WriteAlerts(w AlertWrite) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.space.mode() != modeWritable {
		return ErrNotWritable // the database is read-only until there is room (space.go)
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for prefix, kv := range map[byte]map[string][]byte{prefixAlert: w.Alerts, prefixOutbox: w.Outbox, prefixSilence: w.Silences} {
			for k, v := range kv {
				key := append([]byte{prefix}, k...)
				var err error
				if v == nil {
					err = txn.Delete(key)
				} else {
					err = txn.Set(key, v)
				}
				if err != nil {
					return err
				}
			}
		}
		for _, e := range w.Events {
			if e.Time.IsZero() {
				e.Time = time.Now()
			}
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			entry := badger.NewEntry(eventKey(e.Time.UnixNano(), alertEventSeq.Add(1)), b)
			entry.ExpiresAt = expiresAt(e.Time.UnixMilli(), eventTTL)
			if err := txn.SetEntry(entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write alerts: %w", err)
	}
	return nil
}
