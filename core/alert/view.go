package alert

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/barbossa-agent/barbossa/core/config"
)

// Rule states in Status.
const (
	RuleInactive = "inactive"
	RuleNoData   = "no data"
	RuleDisabled = "disabled"
)

// Status is everything GET /api/v1/alerts shows (docs/API.md); the portal
// owns its JSON.
type Status struct {
	EvaluatedAt *time.Time
	Summary     Summary
	Alerts      []Alert
	Rules       []RuleStatus
	Silences    []Silence
	Receivers   []ReceiverStatus
}

// Summary counts alerts by state; silenced ones count as silenced only.
type Summary struct {
	Firing   int
	Pending  int
	Silenced int
	NoData   int
	Resolved int
}

// RuleStatus is one rule and how it stands.
type RuleStatus struct {
	Name       string
	Kind       string
	Watches    string
	Severity   string
	ForSeconds float64
	State      string // inactive, pending, firing, no data, disabled
	Active     int
	Receivers  []string
	Line       int
}

// ReceiverStatus is one receiver's outbox and record.
type ReceiverStatus struct {
	Name        string
	Type        string
	Queued      int
	Sent        uint64
	Failed      uint64
	Expired     uint64
	LastError   string
	LastSuccess *time.Time
}

var stateOrder = map[string]int{StateFiring: 0, StatePending: 1, StateResolved: 2}

var severityOrder = map[string]int{config.SeverityCritical: 0, config.SeverityWarning: 1, config.SeverityInfo: 2}

// Status is the engine's state as of its last evaluation: alerts firing,
// then pending, then resolved within the history (worst severity first,
// then newest), every rule, silences and receivers.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Status{Alerts: []Alert{}, Rules: []RuleStatus{}, Silences: []Silence{}, Receivers: []ReceiverStatus{}}
	if !e.lastEval.IsZero() {
		t := e.lastEval
		st.EvaluatedAt = &t
	}
	active := map[string]int{}
	firing := map[string]bool{}
	for _, a := range e.alerts {
		c := a.clone()
		c.Sent = nil
		if c.SilencedBy == nil {
			c.SilencedBy = []string{}
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		st.Alerts = append(st.Alerts, c)
		switch {
		case a.State == StateResolved:
			st.Summary.Resolved++
			continue
		case len(a.SilencedBy) > 0:
			st.Summary.Silenced++
		case a.State == StateFiring:
			st.Summary.Firing++
		default:
			st.Summary.Pending++
		}
		active[a.Rule]++
		firing[a.Rule] = firing[a.Rule] || a.State == StateFiring
	}
	slices.SortFunc(st.Alerts, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(stateOrder[a.State], stateOrder[b.State]),
			cmp.Compare(severityOrder[a.Severity], severityOrder[b.Severity]),
			b.StartsAt().Compare(a.StartsAt()), cmp.Compare(a.Key, b.Key))
	})
	for _, r := range e.rules {
		rs := RuleStatus{Name: r.name, Kind: r.kind, Watches: r.describe(), Severity: r.severity,
			ForSeconds: r.hold.Seconds(), State: RuleInactive, Active: active[r.name], Receivers: []string{}, Line: r.line}
		switch {
		case r.disabled:
			rs.State = RuleDisabled
		case firing[r.name]:
			rs.State = StateFiring
		case active[r.name] > 0:
			rs.State = StatePending
		case e.noData[r.name]:
			rs.State = RuleNoData
			st.Summary.NoData++
		}
		for _, rc := range e.receivers {
			if rc.routes(r) {
				rs.Receivers = append(rs.Receivers, rc.name)
			}
		}
		st.Rules = append(st.Rules, rs)
	}
	for _, id := range slices.Sorted(maps.Keys(e.silences)) {
		s := *e.silences[id]
		s.Matchers = maps.Clone(s.Matchers)
		st.Silences = append(st.Silences, s)
	}
	for _, rc := range e.receivers {
		rs := ReceiverStatus{Name: rc.name, Type: rc.cfg.Type, Queued: len(rc.queue), Sent: rc.stats.sent,
			Failed: rc.stats.failed, Expired: rc.stats.expired, LastError: rc.stats.lastError}
		if !rc.stats.lastSuccess.IsZero() {
			t := rc.stats.lastSuccess
			rs.LastSuccess = &t
		}
		st.Receivers = append(st.Receivers, rs)
	}
	return st
}

// Collector exports the engine in /metrics: barbossa_alert_firing per
// rule, and each receiver's notifications sent, failed, expired and
// queued.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

var (
	firingDesc = prometheus.NewDesc("barbossa_alert_firing",
		"Alerts of the rule firing now (silenced ones included); 0 when none.", []string{"alertname", "severity"}, nil)
	pendingDesc = prometheus.NewDesc("barbossa_alert_pending",
		"Alerts of the rule pending (the condition holds, not yet for its for).", []string{"alertname", "severity"}, nil)
	noDataDesc = prometheus.NewDesc("barbossa_alert_no_data",
		"1 when the rule found nothing to judge at its last evaluation (no probe reports its series).", []string{"alertname"}, nil)
	sentDesc = prometheus.NewDesc("barbossa_notifications_sent_total",
		"Notifications the receiver accepted.", []string{"receiver", "type"}, nil)
	failedDesc = prometheus.NewDesc("barbossa_notifications_failed_total",
		"Delivery attempts that failed (each is retried until the notification expires).", []string{"receiver", "type"}, nil)
	expiredDesc = prometheus.NewDesc("barbossa_notifications_expired_total",
		"Notifications given up on, undelivered, after the receiver's expire.", []string{"receiver", "type"}, nil)
	queuedDesc = prometheus.NewDesc("barbossa_notifications_queued",
		"Notifications waiting in the receiver's outbox.", []string{"receiver", "type"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{firingDesc, pendingDesc, noDataDesc, sentDesc, failedDesc, expiredDesc, queuedDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	firing, pending := map[string]int{}, map[string]int{}
	for _, a := range e.alerts {
		switch a.State {
		case StateFiring:
			firing[a.Rule]++
		case StatePending:
			pending[a.Rule]++
		}
	}
	for _, r := range e.rules {
		ch <- prometheus.MustNewConstMetric(firingDesc, prometheus.GaugeValue, float64(firing[r.name]), r.name, r.severity)
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending[r.name]), r.name, r.severity)
		nd := 0.0
		if e.noData[r.name] && !r.disabled {
			nd = 1
		}
		ch <- prometheus.MustNewConstMetric(noDataDesc, prometheus.GaugeValue, nd, r.name)
	}
	for _, rc := range e.receivers {
		ch <- prometheus.MustNewConstMetric(sentDesc, prometheus.CounterValue, float64(rc.stats.sent), rc.name, rc.cfg.Type)
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(rc.stats.failed), rc.name, rc.cfg.Type)
		ch <- prometheus.MustNewConstMetric(expiredDesc, prometheus.CounterValue, float64(rc.stats.expired), rc.name, rc.cfg.Type)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(len(rc.queue)), rc.name, rc.cfg.Type)
	}
}
