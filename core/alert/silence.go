package alert

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Silence mutes the notifications of the alerts whose labels match every
// matcher (label name -> glob of its value), from StartsAt until EndsAt.
// Silenced alerts still move through their states and are listed. Its JSON
// is what the store keeps; the API shows the portal's own view of it.
type Silence struct {
	ID        string            `json:"id"`
	Matchers  map[string]string `json:"matchers"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by"`
}

// Limits of a silence.
const (
	MaxSilence       = 366 * 24 * time.Hour
	maxSilences      = 1000
	maxMatchers      = 32
	maxSilenceString = 1024
)

// ErrNoSilence is returned for a silence ID that is not there.
var ErrNoSilence = errors.New("no such silence")

func (s *Silence) matches(labels map[string]string) bool {
	for k, g := range s.Matchers {
		if !sdk.MatchGlob([]string{g}, labels[k]) {
			return false
		}
	}
	return true
}

func (s *Silence) active(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt)
}

// check validates a silence as a client sent it.
func (s *Silence) check(now time.Time) error {
	if len(s.Matchers) == 0 {
		return errors.New("matchers: at least one, such as {\"alertname\": \"disk-full\"}: a silence of everything is not allowed")
	}
	if len(s.Matchers) > maxMatchers {
		return fmt.Errorf("matchers: at most %d", maxMatchers)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Matchers)) {
		g := s.Matchers[k]
		if !selector.ValidName(k) || len(k) > maxSilenceString {
			return fmt.Errorf("matchers: %q is not a label name", k)
		}
		if len(g) > maxSilenceString {
			return fmt.Errorf("matchers: %s: longer than %d bytes", k, maxSilenceString)
		}
		if err := sdk.CheckGlob(g); err != nil {
			return fmt.Errorf("matchers: %s: %w", k, err)
		}
	}
	if !s.EndsAt.After(now) {
		return errors.New("ends_at: must be in the future")
	}
	if !s.EndsAt.After(s.StartsAt) {
		return errors.New("ends_at: must be after starts_at")
	}
	if s.EndsAt.Sub(now) > MaxSilence {
		return fmt.Errorf("ends_at: at most %s ahead", MaxSilence)
	}
	if len(s.Comment) > maxSilenceString || len(s.CreatedBy) > maxSilenceString {
		return fmt.Errorf("comment and created_by: at most %d bytes each", maxSilenceString)
	}
	return nil
}

// AddSilence checks s, gives it an ID (a zero StartsAt means now) and
// keeps it. It returns the silence as kept.
func (e *Engine) AddSilence(s Silence) (Silence, error) {
	now := time.Now()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if err := s.check(now); err != nil {
		return Silence{}, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s.ID = hex.EncodeToString(id[:])
	s.Matchers = maps.Clone(s.Matchers)
	b, err := json.Marshal(s)
	if err != nil {
		return Silence{}, err
	}
	e.mu.Lock()
	if len(e.silences) >= maxSilences {
		e.mu.Unlock()
		return Silence{}, fmt.Errorf("at most %d silences; delete some first", maxSilences)
	}
	e.silences[s.ID] = &s
	e.mu.Unlock()
	if e.st != nil {
		if err := e.st.WriteAlerts(store.AlertWrite{Silences: map[string][]byte{s.ID: b}}); err != nil {
			e.log.Error("silence not saved: it lasts until the agent stops", "id", s.ID, "err", err)
		}
	}
	e.log.Info("silence added", "id", s.ID, "matchers", s.Matchers, "ends_at", s.EndsAt, "created_by", s.CreatedBy)
	e.Kick()
	return s, nil
}

// DeleteSilence ends a silence now.
func (e *Engine) DeleteSilence(id string) error {
	e.mu.Lock()
	_, ok := e.silences[id]
	delete(e.silences, id)
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrNoSilence, id)
	}
	if e.st != nil {
		if err := e.st.WriteAlerts(store.AlertWrite{Silences: map[string][]byte{id: nil}}); err != nil {
			e.log.Error("silence deletion not saved", "id", id, "err", err)
		}
	}
	e.log.Info("silence deleted", "id", id)
	e.Kick()
	return nil
}

// silences drops expired silences and marks which alerts each mutes.
func (ev *evaluation) silences() {
	e := ev.e
	for id, s := range e.silences {
		if !ev.now.Before(s.EndsAt) {
			delete(e.silences, id)
			if ev.silenc == nil {
				ev.silenc = map[string][]byte{}
			}
			ev.silenc[id] = nil
			continue
		}
		if ev.now.Before(s.StartsAt) {
			ev.wakeAt(s.StartsAt)
		} else {
			ev.wakeAt(s.EndsAt)
		}
	}
	ids := slices.Sorted(maps.Keys(e.silences))
	for k, a := range e.alerts {
		var by []string
		for _, id := range ids {
			if s := e.silences[id]; s.active(ev.now) && s.matches(a.Labels) {
				by = append(by, id)
			}
		}
		if !slices.Equal(by, a.SilencedBy) {
			a.SilencedBy = by
			ev.dirty[k] = true
		}
	}
}
