package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Message is one notification: what a receiver is told at once (a group
// of alerts that fired or resolved together, or repeats). It is queued in
// the outbox until delivered or expired.
type Message struct {
	ID       string    `json:"id"`
	Seq      uint64    `json:"seq"`
	Receiver string    `json:"receiver"`
	Created  time.Time `json:"created"`
	Alerts   []Alert   `json:"alerts"`
	// Test marks `barbossa alert test`'s messages.
	Test bool `json:"test,omitempty"`

	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
}

// Firing is how many of the message's alerts fire.
func (m *Message) Firing() int {
	n := 0
	for i := range m.Alerts {
		if m.Alerts[i].State == StateFiring {
			n++
		}
	}
	return n
}

// Status is "firing" when any of its alerts fires, else "resolved".
func (m *Message) Status() string {
	if m.Firing() > 0 {
		return StateFiring
	}
	return StateResolved
}

// maxQueued bounds a receiver's outbox: beyond it the oldest waiting
// message is dropped (and counted as expired).
const maxQueued = 1000

// sender delivers a message to one kind of receiver; the context carries
// the receiver's timeout.
type sender interface {
	send(ctx context.Context, m *Message) error
}

// receiver is one [[notify]] entry: its routing, grouping, rate limit and
// outbox.
type receiver struct {
	name string
	cfg  config.Notify
	sender
	rateN   int
	ratePer time.Duration

	// Guarded by the engine's lock.
	groupSince time.Time   // when something first fell due for the next message
	sentAt     []time.Time // messages within the rate window
	queue      []*Message  // the outbox, oldest first
	stats      receiverStats
	wakeup     chan struct{}
}

type receiverStats struct {
	sent, failed, expired uint64
	lastError             string
	lastSuccess           time.Time
}

func (r *receiver) signal() {
	select {
	case r.wakeup <- struct{}{}:
	default:
	}
}

// newReceivers builds every [[notify]] entry's sender, secrets read.
func newReceivers(cfg *config.Config, host string) ([]*receiver, error) {
	var out []*receiver
	for i, n := range cfg.Notify {
		secret, token, password, err := cfg.NotifySecrets(i)
		if err != nil {
			return nil, err
		}
		s, err := newSender(cfg, n, secrets{secret: secret, token: token, password: password}, host)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: notify %q: %w", cfg.File, n.Line, n.Name, err)
		}
		r := &receiver{name: n.Name, cfg: n, sender: s, wakeup: make(chan struct{}, 1)}
		if n.RateLimit != "" {
			r.rateN, r.ratePer, _ = config.ParseRate(n.RateLimit) // checked with the config
		}
		out = append(out, r)
	}
	return out, nil
}

// routes says whether rule r's alerts go to receiver rc: those the rule
// names, or, when it names none, every receiver whose severities and
// alert globs admit it.
func (rc *receiver) routes(r *rule) bool {
	if len(r.notify) > 0 {
		return slices.Contains(r.notify, rc.name)
	}
	if len(rc.cfg.Severities) > 0 && !slices.Contains(rc.cfg.Severities, r.severity) {
		return false
	}
	return len(rc.cfg.Alerts) == 0 || sdk.MatchGlob(rc.cfg.Alerts, r.name)
}

// notify finds what each receiver must be told (alerts that fired and it
// has not heard of, or not for its repeat interval; alerts it heard fire
// that resolved), and once the receiver's group wait has passed and its
// rate limit allows, puts one message with all of it in its outbox.
func (ev *evaluation) notify() {
	e := ev.e
	rules := map[string]*rule{}
	for _, r := range e.rules {
		rules[r.name] = r
	}
	keys := slices.Sorted(maps.Keys(e.alerts))
	for _, rc := range e.receivers {
		var due []*Alert
		for _, k := range keys {
			a := e.alerts[k]
			switch a.State {
			case StateFiring:
				r := rules[a.Rule]
				if r == nil || !rc.routes(r) || len(a.SilencedBy) > 0 {
					continue
				}
				last, told := a.Sent[rc.name]
				if !told || !ev.now.Before(last.Add(rc.cfg.RepeatInterval.Duration)) {
					due = append(due, a)
				} else {
					ev.wakeAt(last.Add(rc.cfg.RepeatInterval.Duration))
				}
			case StateResolved:
				if _, told := a.Sent[rc.name]; !told {
					continue
				}
				if *rc.cfg.SendResolved {
					due = append(due, a)
				} else {
					delete(a.Sent, rc.name)
					ev.dirty[k] = true
				}
			}
		}
		if len(due) == 0 {
			rc.groupSince = time.Time{}
			continue
		}
		if rc.groupSince.IsZero() {
			rc.groupSince = ev.now
		}
		at := rc.groupSince.Add(rc.cfg.GroupWait.Duration)
		if rc.rateN > 0 {
			rc.sentAt = slices.DeleteFunc(rc.sentAt, func(t time.Time) bool { return !t.After(ev.now.Add(-rc.ratePer)) })
			if len(rc.sentAt) >= rc.rateN {
				at = maxTime(at, rc.sentAt[0].Add(rc.ratePer))
			}
		}
		if ev.now.Before(at) {
			ev.wakeAt(at)
			continue
		}
		e.seq++
		m := &Message{
			ID: fmt.Sprintf("%s\x00%016x", rc.name, e.seq), Seq: e.seq, Receiver: rc.name,
			Created: ev.now, NextAttempt: ev.now,
		}
		for _, a := range due {
			c := a.clone()
			c.Sent = nil
			m.Alerts = append(m.Alerts, c)
			if a.State == StateFiring {
				if a.Sent == nil {
					a.Sent = map[string]time.Time{}
				}
				a.Sent[rc.name] = ev.now
				ev.wakeAt(ev.now.Add(rc.cfg.RepeatInterval.Duration))
			} else {
				delete(a.Sent, rc.name)
			}
			ev.dirty[a.Key] = true
		}
		rc.groupSince = time.Time{}
		rc.sentAt = append(rc.sentAt, ev.now)
		if len(rc.queue) >= maxQueued {
			// A receiver dead for long with many alerts: the oldest
			// waiting message goes (not the head, which may be in flight).
			old := rc.queue[1]
			rc.queue = append(rc.queue[:1], rc.queue[2:]...)
			rc.stats.expired++
			if ev.outbox == nil {
				ev.outbox = map[string][]byte{}
			}
			ev.outbox[old.ID] = nil
			e.log.Warn("outbox full, dropped the oldest waiting notification", "receiver", rc.name, "created", old.Created, "alerts", len(old.Alerts))
		}
		rc.queue = append(rc.queue, m)
		ev.queue(m)
		ev.wake = append(ev.wake, rc)
	}
}

func (ev *evaluation) queue(m *Message) {
	b, err := json.Marshal(m)
	if err != nil {
		ev.e.log.Error("encode notification", "receiver", m.Receiver, "err", err)
		return
	}
	if ev.outbox == nil {
		ev.outbox = map[string][]byte{}
	}
	ev.outbox[m.ID] = b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// title is a message's one line: [FIRING:2] disk-full, cpu-high on web-1.
func title(m *Message, host string) string {
	var b strings.Builder
	if m.Test {
		b.WriteString("[TEST] ")
	}
	if n := m.Firing(); n > 0 {
		fmt.Fprintf(&b, "[FIRING:%d] ", n)
	} else {
		b.WriteString("[RESOLVED] ")
	}
	var rules []string
	for i := range m.Alerts {
		if !slices.Contains(rules, m.Alerts[i].Rule) {
			rules = append(rules, m.Alerts[i].Rule)
		}
	}
	b.WriteString(strings.Join(rules, ", "))
	if host != "" {
		b.WriteString(" on " + host)
	}
	return b.String()
}

// text is a message's body: one paragraph per alert.
func text(m *Message, externalURL string) string {
	var b strings.Builder
	if m.Test {
		b.WriteString("This is a test notification from barbossa alert test: the receiver works.\n\n")
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		fmt.Fprintf(&b, "%s %s %s: %s\n", strings.ToUpper(a.State), a.Severity, a.Rule, a.Summary())
		switch {
		case a.State == StateResolved && a.ResolvedAt != nil:
			fmt.Fprintf(&b, "  resolved at %s, fired at %s\n", a.ResolvedAt.UTC().Format(time.RFC3339), a.StartsAt().UTC().Format(time.RFC3339))
		default:
			fmt.Fprintf(&b, "  since %s\n", a.StartsAt().UTC().Format(time.RFC3339))
		}
		if d := a.Annotations["description"]; d != "" {
			fmt.Fprintf(&b, "  %s\n", d)
		}
		fmt.Fprintf(&b, "  labels: %s\n", labelText(a.Labels))
	}
	if externalURL != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSuffix(externalURL, "/")+"/api/v1/alerts")
	}
	return b.String()
}

func labelText(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k == "alertname" || k == "severity" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return strings.Join(parts, " ")
}

// CheckReceivers reads what the receivers need beyond the config text
// (secret, token and password files, ca_file), as the agent does when it
// starts, for `barbossa check`.
func CheckReceivers(cfg *config.Config) error {
	_, err := newReceivers(cfg, "")
	return err
}
