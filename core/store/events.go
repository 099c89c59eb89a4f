package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Event is something that happened to an entity (a unit went failed, a
// container exited) or an action recorded with AddEvent. Its JSON tags are
// the store's on-disk format (a renamed tag would not read back the events
// already kept), not the API's: the portal serves its own type.
type Event struct {
	Time    time.Time  `json:"time"`
	Probe   string     `json:"probe"`
	Kind    string     `json:"kind"`
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	Health  sdk.Health `json:"health"`
	Message string     `json:"message"`
}

// StateGone is the To state of an event for an entity that a probe no
// longer reports.
const StateGone = "gone"

// Events returns events at or after since, newest first. limit <= 0 means
// no limit.
func (s *Store) Events(since time.Time, limit int) ([]Event, error) {
	out := []Event{}
	sinceKey := eventKey(since.UnixNano(), 0)
	if since.IsZero() {
		sinceKey = []byte{prefixEvent}
	}
	err := s.read(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.PrefetchValues = false
		opts.Prefix = []byte{prefixEvent}
		it := txn.NewIterator(opts)
		defer it.Close()
		// In reverse, Seek lands on the last key <= the seek key.
		seek := eventKey(math.MaxInt64, math.MaxUint32)
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			if bytes.Compare(item.Key(), sinceKey) < 0 {
				break
			}
			var e Event
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			out = append(out, e)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// entityState is what the store remembers of an entity between two reports
// of its probe, to tell a transition from a repeat.
type entityState struct {
	Kind   string     `json:"kind"`
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	State  string     `json:"state"`
	Health sdk.Health `json:"health"`
}

// entityStates is one probe's entities by kind and id.
type entityStates map[string]entityState

func entityRef(kind, id string) string { return kind + "\x00" + id }

// diffEntities compares a probe's new entities with the previous ones and
// returns the transitions, and the new state. An entity that changes State
// or Health yields an event; one that appears yields From ""; one that is no
// longer reported yields To "gone". With no previous state at all (the
// probe's first report ever) it returns no events: a baseline is not news.
func diffEntities(probe string, t time.Time, prev entityStates, cur []sdk.Entity) ([]Event, entityStates, bool) {
	next := make(entityStates, len(cur))
	for _, e := range cur {
		next[entityRef(e.Kind, e.ID)] = entityState{Kind: e.Kind, ID: e.ID, Name: e.Name, State: e.State, Health: e.Health}
	}
	if prev == nil {
		return nil, next, true
	}
	var evs []Event
	changed := len(prev) != len(next)
	for ref, n := range next {
		p, had := prev[ref]
		switch {
		case !had:
			changed = true
			evs = append(evs, Event{
				Time: t, Probe: probe, Kind: n.Kind, ID: n.ID, Name: n.Name,
				From: "", To: n.State, Health: n.Health,
				Message: fmt.Sprintf("%s %s appeared (%s, %s)", n.Kind, displayName(n), n.State, n.Health),
			})
		case p.State != n.State || p.Health != n.Health:
			changed = true
			evs = append(evs, Event{
				Time: t, Probe: probe, Kind: n.Kind, ID: n.ID, Name: n.Name,
				From: p.State, To: n.State, Health: n.Health,
				Message: transitionMessage(p, n),
			})
		case p.Name != n.Name:
			changed = true // not news, but remember it
		}
	}
	for ref, p := range prev {
		if _, ok := next[ref]; ok {
			continue
		}
		evs = append(evs, Event{
			Time: t, Probe: probe, Kind: p.Kind, ID: p.ID, Name: p.Name,
			From: p.State, To: StateGone, Health: sdk.StatusUnknown,
			Message: fmt.Sprintf("%s %s is gone (was %s)", p.Kind, displayName(p), p.State),
		})
	}
	// Map order is random; a stable order keeps event keys (and tests) tidy.
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Kind != evs[j].Kind {
			return evs[i].Kind < evs[j].Kind
		}
		return evs[i].ID < evs[j].ID
	})
	return evs, next, changed
}

func displayName(e entityState) string {
	if e.Name != "" {
		return e.Name
	}
	return e.ID
}

func transitionMessage(p, n entityState) string {
	var parts []string
	if p.State != n.State {
		parts = append(parts, fmt.Sprintf("state %s -> %s", p.State, n.State))
	}
	if p.Health != n.Health {
		parts = append(parts, fmt.Sprintf("health %s -> %s", p.Health, n.Health))
	}
	return fmt.Sprintf("%s %s: %s", n.Kind, displayName(n), strings.Join(parts, ", "))
}

func (es entityStates) MarshalJSON() ([]byte, error) {
	list := make([]entityState, 0, len(es))
	for _, e := range es {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return entityRef(list[i].Kind, list[i].ID) < entityRef(list[j].Kind, list[j].ID) })
	return json.Marshal(list)
}

func (es *entityStates) UnmarshalJSON(b []byte) error {
	var list []entityState
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*es = make(entityStates, len(list))
	for _, e := range list {
		(*es)[entityRef(e.Kind, e.ID)] = e
	}
	return nil
}
