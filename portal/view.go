package portal

import (
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// This file holds the JSON shapes the portal serves and how they are built
// from a snapshot. They are the public contract documented in docs/API.md.

// Report states in probeView.ReportState.
const (
	reportFresh = "fresh" // the latest report is within its probe's staleness bound
	reportStale = "stale" // the probe reported before, but no fresh report is stored
	reportNone  = "none"  // the probe has not reported yet
	reportError = "error" // reading the report failed; see the log
)

// healthView is a probe's scheduler health as the API shows it (docs/API.md,
// web/openapi.json): unset times are null rather than year 1, and dropped is
// {} rather than null.
type healthView struct {
	Name                string            `json:"name"`
	Runtime             string            `json:"runtime"`
	Source              string            `json:"source"`
	State               string            `json:"state"`
	DurationMS          float64           `json:"duration_ms"`
	LastError           string            `json:"last_error"`
	Runs                uint64            `json:"runs"`
	Failures            uint64            `json:"failures"`
	Timeouts            uint64            `json:"timeouts"`
	Skipped             uint64            `json:"skipped"`
	Denied              uint64            `json:"denied"`
	ConsecutiveFailures int               `json:"consecutive_failures"`
	IntervalMS          int64             `json:"interval_ms"`
	TimeoutMS           int64             `json:"timeout_ms"`
	Dropped             map[string]uint64 `json:"dropped"`
	Series              int               `json:"series"`
	LastRun             *time.Time        `json:"last_run"`
	LastSuccess         *time.Time        `json:"last_success"`
	NextRun             *time.Time        `json:"next_run"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nonNil is s, or [] for none: a list in the API is never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func newHealthView(h scheduler.Health) healthView {
	if h.Dropped == nil {
		h.Dropped = map[string]uint64{}
	}
	return healthView{
		Name: h.Name, Runtime: h.Runtime, Source: h.Source, State: h.State,
		DurationMS: h.DurationMS, LastError: h.LastError,
		Runs: h.Runs, Failures: h.Failures, Timeouts: h.Timeouts, Skipped: h.Skipped, Denied: h.Denied,
		ConsecutiveFailures: h.ConsecutiveFailures, IntervalMS: h.IntervalMS, TimeoutMS: h.TimeoutMS,
		Dropped: h.Dropped, Series: h.Series,
		LastRun: optTime(h.LastRun), LastSuccess: optTime(h.LastSuccess), NextRun: optTime(h.NextRun),
	}
}

// probeView is one probe: its scheduler health and its latest report.
type probeView struct {
	healthView
	// ReportState says why Report is null when it is.
	ReportState string      `json:"report_state"`
	Report      *reportView `json:"report"`
	// DropInError is set on a drop-in probe whose new version in the
	// probes folder was refused: this probe is the previous version,
	// running on until the new one is fixed or removed.
	DropInError *DropInProblem `json:"dropin_error,omitempty"`
}

// reportHead is a probe's latest report, stamped by the host, without its
// entities: /api/v1/status lists those once, flattened, and carries this.
type reportHead struct {
	Time       time.Time  `json:"time"`
	DurationMS float64    `json:"duration_ms"`
	Status     sdk.Status `json:"status"`
	Message    string     `json:"message,omitempty"`
	// NotPresent is true when the probe found its subject absent from
	// this host (no Docker, no systemd): the message starts with
	// sdk.NotPresentPrefix. Such a report's status is ok.
	NotPresent bool         `json:"not_present,omitempty"`
	Error      string       `json:"error,omitempty"`
	Metrics    []metricView `json:"metrics"`
}

// reportView is the whole latest report, as /api/v1/probes serves it.
type reportView struct {
	reportHead
	Entities []entityView `json:"entities"`
}

// probeSummary is one probe in /api/v1/status: health and the report
// without its entities.
type probeSummary struct {
	healthView
	ReportState string         `json:"report_state"`
	Report      *reportHead    `json:"report"`
	DropInError *DropInProblem `json:"dropin_error,omitempty"`
}

// metricView always carries labels (as {} when there are none) so clients
// need no nil check.
type metricView struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// entityView is an entity of a report. sdk.Entity is the probes' wire
// format (internal/abi): the API does not reuse it.
type entityView struct {
	Kind   string         `json:"kind"`
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	State  string         `json:"state"`
	Health sdk.Health     `json:"health"`
	Attrs  map[string]any `json:"attrs,omitempty"`
}

func newEntityView(e sdk.Entity) entityView {
	return entityView{Kind: e.Kind, ID: e.ID, Name: e.Name, State: e.State, Health: e.Health, Attrs: e.Attrs}
}

// probeEntityView is an entity flattened out of its probe's report.
type probeEntityView struct {
	Probe string `json:"probe"`
	entityView
}

// alert is one thing that needs a look: a probe that is not ok, a report
// whose status is warn or crit, an entity whose health is warn or crit, or
// an [[alert]] rule's alert that fires (not silenced), or a store that is
// not writing.
type alert struct {
	Kind     string `json:"kind"` // probe | report | entity | rule | dropin | store
	Severity string `json:"severity"`
	Probe    string `json:"probe"`
	Entity   string `json:"entity,omitempty"` // kind/id of the entity
	Name     string `json:"name,omitempty"`
	State    string `json:"state,omitempty"`
	Message  string `json:"message,omitempty"`
	File     string `json:"file,omitempty"` // a refused drop-in's file
	Line     int    `json:"line,omitempty"` // and line, when known
}

type summary struct {
	Probes           int            `json:"probes"`
	ProbesByState    map[string]int `json:"probes_by_state"`
	Entities         int            `json:"entities"`
	EntitiesByHealth map[string]int `json:"entities_by_health"`
	Alerts           int            `json:"alerts"`
}

// statusBody is /api/v1/status and /api/comprehensive-status.
type statusBody struct {
	Status      sdk.Status        `json:"status"`
	Version     uint64            `json:"version"`
	GeneratedAt time.Time         `json:"generated_at"`
	Host        Host              `json:"host"`
	Store       storeHealthView   `json:"store"`
	Summary     summary           `json:"summary"`
	Probes      []probeSummary    `json:"probes"`
	Entities    []probeEntityView `json:"entities"`
	Alerts      []alert           `json:"alerts"`
	// Alerting counts the [[alert]] rules' alerts (GET /api/v1/alerts
	// lists them); null when alerting does not run.
	Alerting *alertSummaryView `json:"alerting"`
	Events   []eventView       `json:"events"`
	// DropInProblems are the drop-ins of the probes folder the agent
	// refused as they now are (each also an alert of kind dropin).
	DropInProblems []DropInProblem `json:"dropin_problems"`
}

type agentInfo struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Hostname      string    `json:"hostname"`
	PID           int       `json:"pid"`
	GoVersion     string    `json:"go_version"`
}

// barbossaBody is the original /api/barbossa-status: the agent itself and
// the health of its probes.
type barbossaBody struct {
	Status      sdk.Status   `json:"status"`
	GeneratedAt time.Time    `json:"generated_at"`
	Agent       agentInfo    `json:"agent"`
	Summary     summary      `json:"summary"`
	Probes      []healthView `json:"probes"`
}

// probeState maps a scheduler state to an alert severity; "" is healthy.
func probeSeverity(state string) sdk.Status {
	switch state {
	case scheduler.StateOK, scheduler.StateDisabled, scheduler.StatePending:
		return ""
	}
	// failing, timeout, stale, and anything newer the scheduler invents:
	// the agent cannot vouch for what this probe watches.
	return sdk.StatusWarn
}

func (sn *snapshot) probeView(h scheduler.Health) probeView {
	v := probeView{healthView: newHealthView(h)}
	rec, ok := sn.latest[h.Name]
	switch {
	case sn.latestErr[h.Name]:
		v.ReportState = reportError
	case ok:
		v.ReportState = reportFresh
		v.Report = newReportView(rec)
	case !h.LastSuccess.IsZero():
		v.ReportState = reportStale
	default:
		v.ReportState = reportNone
	}
	v.DropInError = sn.dropInError(h.Name)
	return v
}

// dropInError is the refused new version of a running drop-in probe.
func (sn *snapshot) dropInError(probe string) *DropInProblem {
	for i := range sn.dropIns {
		if sn.dropIns[i].Probe == probe {
			return &sn.dropIns[i]
		}
	}
	return nil
}

func newReportView(r *store.Record) *reportView {
	v := &reportView{
		reportHead: reportHead{
			Time:       r.Time,
			DurationMS: r.DurationMS,
			Status:     r.Report.Status,
			Message:    r.Report.Message,
			NotPresent: strings.HasPrefix(r.Report.Message, sdk.NotPresentPrefix),
			Error:      r.Error,
			Metrics:    make([]metricView, len(r.Report.Metrics)),
		},
		Entities: make([]entityView, len(r.Report.Entities)),
	}
	for i, e := range r.Report.Entities {
		v.Entities[i] = newEntityView(e)
	}
	for i, m := range r.Report.Metrics {
		l := m.Labels
		if l == nil {
			l = map[string]string{}
		}
		v.Metrics[i] = metricView{Name: m.Name, Labels: l, Value: m.Value}
	}
	return v
}

// probesBody is /api/v1/probes.
type probesBody struct {
	Probes []probeView `json:"probes"`
}

func (sn *snapshot) probeViews() []probeView {
	out := make([]probeView, len(sn.health))
	for i, h := range sn.health {
		out[i] = sn.probeView(h)
	}
	return out
}

// status builds the everything-at-a-glance body. The overall status is the
// worst of: every fresh report's status, every entity's health (warn and
// crit only: an entity in "unknown" is not an alarm), and warn for each
// probe that is failing, timing out or stale.
func (sn *snapshot) status() statusBody {
	b := statusBody{
		Status:      sdk.StatusOK,
		Version:     sn.version,
		GeneratedAt: sn.at,
		Host:        sn.host,
		Store:       newStoreHealthView(sn.store),
		Probes:      make([]probeSummary, len(sn.health)),
		Entities:    []probeEntityView{},
		Alerts:      []alert{},
		Events:      newEventViews(sn.events),

		DropInProblems: sn.dropIns,
	}
	if b.DropInProblems == nil {
		b.DropInProblems = []DropInProblem{}
	}
	worst := func(s sdk.Status) {
		if s.Rank() > b.Status.Rank() {
			b.Status = s
		}
	}
	for i, h := range sn.health {
		p := sn.probeView(h)
		b.Probes[i] = probeSummary{healthView: p.healthView, ReportState: p.ReportState, DropInError: p.DropInError}
		if p.Report != nil {
			b.Probes[i].Report = &p.Report.reportHead
		}
		if sev := probeSeverity(p.State); sev != "" {
			worst(sev)
			b.Alerts = append(b.Alerts, alert{Kind: "probe", Severity: string(sev), Probe: p.Name, State: p.State, Message: p.LastError})
		}
		if p.Report == nil {
			continue
		}
		if s := p.Report.Status; s.Valid() {
			worst(s)
			if s == sdk.StatusWarn || s == sdk.StatusCrit {
				b.Alerts = append(b.Alerts, alert{Kind: "report", Severity: string(s), Probe: p.Name, Message: p.Report.Message})
			}
		}
		for _, e := range p.Report.Entities {
			b.Entities = append(b.Entities, probeEntityView{Probe: p.Name, entityView: e})
			if e.Health == sdk.StatusWarn || e.Health == sdk.StatusCrit {
				worst(e.Health)
				b.Alerts = append(b.Alerts, alert{
					Kind: "entity", Severity: string(e.Health), Probe: p.Name,
					Entity: e.Kind + "/" + e.ID, Name: e.Name, State: e.State,
				})
			}
		}
	}
	// A refused drop-in needs a look: its probe is not what the folder
	// holds (the previous version runs on), or not running at all.
	for _, d := range b.DropInProblems {
		worst(sdk.StatusWarn)
		b.Alerts = append(b.Alerts, alert{Kind: "dropin", Severity: string(sdk.StatusWarn), Probe: d.Probe,
			Message: d.Error, File: d.File, Line: d.Line})
	}
	if a := sn.alerting; a != nil {
		sum := newAlertSummaryView(a.Summary)
		b.Alerting = &sum
		for _, al := range a.Alerts {
			sev := alerting.SeverityStatus(al.Severity)
			if al.State != alerting.StateFiring || len(al.SilencedBy) > 0 || sev == "" {
				continue
			}
			worst(sev)
			b.Alerts = append(b.Alerts, alert{Kind: "rule", Severity: string(sev), Probe: al.Labels["probe"],
				Name: al.Rule, State: al.State, Message: al.Summary()})
		}
	}
	if !sn.store.Writable {
		// History is being lost: as bad as anything a probe reports.
		worst(sdk.StatusCrit)
		b.Alerts = append(b.Alerts, alert{Kind: "store", Severity: string(sdk.StatusCrit), State: "not writing", Message: sn.store.Error})
	}
	// Worst first, so a client showing the top few shows what matters.
	sort.SliceStable(b.Alerts, func(i, j int) bool {
		return sdk.Status(b.Alerts[i].Severity).Rank() > sdk.Status(b.Alerts[j].Severity).Rank()
	})
	b.Summary = sn.summary(b.Entities, len(b.Alerts))
	return b
}

func (sn *snapshot) summary(entities []probeEntityView, alerts int) summary {
	s := summary{
		Probes:           len(sn.health),
		ProbesByState:    map[string]int{},
		Entities:         len(entities),
		EntitiesByHealth: map[string]int{},
		Alerts:           alerts,
	}
	for _, h := range sn.health {
		s.ProbesByState[h.State]++
	}
	for _, e := range entities {
		s.EntitiesByHealth[string(e.Health)]++
	}
	return s
}

func (sn *snapshot) barbossa() barbossaBody {
	st := sn.status()
	hostname := sn.host.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	var up int64
	if !sn.host.StartedAt.IsZero() {
		up = int64(sn.at.Sub(sn.host.StartedAt) / time.Second)
	}
	probes := make([]healthView, len(sn.health))
	for i, h := range sn.health {
		probes[i] = newHealthView(h)
	}
	return barbossaBody{
		Status:      st.Status,
		GeneratedAt: sn.at,
		Agent: agentInfo{
			Name:          "barbossa",
			Version:       sn.host.AgentVersion,
			StartedAt:     sn.host.StartedAt,
			UptimeSeconds: up,
			Hostname:      hostname,
			PID:           os.Getpid(),
			GoVersion:     runtime.Version(),
		},
		Summary: st.Summary,
		Probes:  probes,
	}
}
