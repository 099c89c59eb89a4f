// Package alert turns [[alert]] rules into alerts that reach a person. It
// evaluates the rules over the probes' latest reports and health, moves
// each alert through pending, firing and resolved (kept in the store, so a
// restart neither loses a firing alert nor notifies it twice), and sends
// notifications through [[notify]] receivers (webhook, Alertmanager, email,
// ntfy, Slack-compatible), grouped, repeated, rate limited and queued in an
// outbox that retries until delivered or expired.
//
//	eng, err := alert.New(cfg, probesFunc, st, logger)
//	if err != nil { ... }
//	go eng.Run(ctx) // evaluates every [alerting] interval and on Kick
//	eng.Kick()      // after each probe report
package alert

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Alert states.
const (
	StatePending  = "pending"  // the condition holds, not yet for the rule's for
	StateFiring   = "firing"   // it has held for long enough; receivers are told
	StateResolved = "resolved" // it stopped holding (past the clear threshold)
)

// Alert is one alert: a rule and what it fired on (a series, an entity, a
// probe). Its JSON is what the store keeps (and an outbox notification
// carries); GET /api/v1/alerts lists the portal's own view of it.
type Alert struct {
	Key         string            `json:"key"`
	Rule        string            `json:"rule"`
	State       string            `json:"state"`
	Severity    string            `json:"severity"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Value       *float64          `json:"value"`
	ActiveAt    time.Time         `json:"active_at"`
	FiredAt     *time.Time        `json:"fired_at"`
	ResolvedAt  *time.Time        `json:"resolved_at"`
	// Sent is when each receiver was last told the alert fires; a
	// receiver is removed once told it resolved.
	Sent map[string]time.Time `json:"sent,omitempty"`
	// SilencedBy lists the silences that match it now.
	SilencedBy []string `json:"silenced_by"`
}

// key is an alert's identity: its labels, sorted (alertname among them).
func key(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(1)
	}
	return b.String()
}

func (a *Alert) clone() Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	c.Sent = maps.Clone(a.Sent)
	c.SilencedBy = slices.Clone(a.SilencedBy)
	if a.Value != nil {
		v := *a.Value
		c.Value = &v
	}
	return c
}

// Summary is the one line a message shows for the alert.
func (a *Alert) Summary() string {
	if s := a.Annotations["summary"]; s != "" {
		return s
	}
	return a.Rule
}

// StartsAt and EndsAt are the alert's span as Alertmanager wants it: from
// when it fired until it resolved (zero while firing).
func (a *Alert) StartsAt() time.Time {
	if a.FiredAt != nil {
		return *a.FiredAt
	}
	return a.ActiveAt
}

func (a *Alert) EndsAt() time.Time {
	if a.ResolvedAt != nil {
		return *a.ResolvedAt
	}
	return time.Time{}
}
