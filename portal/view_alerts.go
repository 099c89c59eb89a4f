package portal

import (
	"time"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
)

// The API's shapes of the alert engine's state: GET /api/v1/alerts, a
// silence as POST /api/v1/silences answers it, and the alert counts in
// /api/v1/status. core/alert's types carry no JSON of the API (an Alert's
// and a Silence's tags are the store's on-disk format).

// alertsBody is GET /api/v1/alerts. Lists are [] rather than null.
type alertsBody struct {
	EvaluatedAt *time.Time       `json:"evaluated_at"`
	Summary     alertSummaryView `json:"summary"`
	Alerts      []alertView      `json:"alerts"`
	Rules       []ruleView       `json:"rules"`
	Silences    []silenceView    `json:"silences"`
	Receivers   []receiverView   `json:"receivers"`
}

// alertSummaryView counts alerts by state (silenced ones as silenced only).
type alertSummaryView struct {
	Firing   int `json:"firing"`
	Pending  int `json:"pending"`
	Silenced int `json:"silenced"`
	NoData   int `json:"no_data"`
	Resolved int `json:"resolved"`
}

// alertView is one alert; which receivers were told is not shown.
type alertView struct {
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
	SilencedBy  []string          `json:"silenced_by"`
}

// ruleView is one rule and how it stands.
type ruleView struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Watches    string   `json:"watches"`
	Severity   string   `json:"severity"`
	ForSeconds float64  `json:"for_seconds"`
	State      string   `json:"state"`
	Active     int      `json:"active"`
	Receivers  []string `json:"receivers"`
	Line       int      `json:"line"`
}

// silenceView is one silence.
type silenceView struct {
	ID        string            `json:"id"`
	Matchers  map[string]string `json:"matchers"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by"`
}

// receiverView is one receiver's outbox and record.
type receiverView struct {
	Name        string     `json:"name"`
	Type        string     `json:"type"`
	Queued      int        `json:"queued"`
	Sent        uint64     `json:"sent"`
	Failed      uint64     `json:"failed"`
	Expired     uint64     `json:"expired"`
	LastError   string     `json:"last_error"`
	LastSuccess *time.Time `json:"last_success"`
}

func newAlertsBody(st alerting.Status) alertsBody {
	b := alertsBody{
		EvaluatedAt: st.EvaluatedAt,
		Summary:     newAlertSummaryView(st.Summary),
		Alerts:      make([]alertView, len(st.Alerts)),
		Rules:       make([]ruleView, len(st.Rules)),
		Silences:    make([]silenceView, len(st.Silences)),
		Receivers:   make([]receiverView, len(st.Receivers)),
	}
	for i, a := range st.Alerts {
		b.Alerts[i] = newAlertView(a)
	}
	for i, r := range st.Rules {
		b.Rules[i] = ruleView{Name: r.Name, Kind: r.Kind, Watches: r.Watches, Severity: r.Severity,
			ForSeconds: r.ForSeconds, State: r.State, Active: r.Active, Receivers: nonNil(r.Receivers), Line: r.Line}
	}
	for i, s := range st.Silences {
		b.Silences[i] = newSilenceView(s)
	}
	for i, r := range st.Receivers {
		b.Receivers[i] = receiverView{Name: r.Name, Type: r.Type, Queued: r.Queued, Sent: r.Sent, Failed: r.Failed,
			Expired: r.Expired, LastError: r.LastError, LastSuccess: r.LastSuccess}
	}
	return b
}

func newAlertSummaryView(s alerting.Summary) alertSummaryView {
	return alertSummaryView{Firing: s.Firing, Pending: s.Pending, Silenced: s.Silenced, NoData: s.NoData, Resolved: s.Resolved}
}

func newAlertView(a alerting.Alert) alertView {
	v := alertView{Key: a.Key, Rule: a.Rule, State: a.State, Severity: a.Severity,
		Labels: a.Labels, Annotations: a.Annotations, Value: a.Value,
		ActiveAt: a.ActiveAt, FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt, SilencedBy: nonNil(a.SilencedBy)}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Annotations == nil {
		v.Annotations = map[string]string{}
	}
	return v
}

func newSilenceView(s alerting.Silence) silenceView {
	v := silenceView{ID: s.ID, Matchers: s.Matchers, StartsAt: s.StartsAt, EndsAt: s.EndsAt,
		Comment: s.Comment, CreatedBy: s.CreatedBy}
	if v.Matchers == nil {
		v.Matchers = map[string]string{}
	}
	return v
}
