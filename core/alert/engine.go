package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Store is where the engine keeps what must survive a restart: alerts, the
// outbox and silences, as JSON under keys of its own, and the events of
// every transition. core/store implements it.
type Store interface {
	AlertData() (store.AlertData, error)
	WriteAlerts(store.AlertWrite) error
}

// EventProbe is the probe field of the events alerts record.
const EventProbe = "alerts"

// Engine evaluates the rules and notifies the receivers. Create it with
// New, start it with Run.
type Engine struct {
	log         *slog.Logger
	src         func() []Probe
	st          Store
	rules       []*rule
	receivers   []*receiver
	interval    time.Duration
	history     time.Duration
	labels      map[string]string // [alerting] labels, host included
	externalURL string
	onChange    func()

	kick     chan struct{}
	reloaded chan struct{} // Run starts and stops receivers' goroutines

	mu       sync.Mutex
	alerts   map[string]*Alert // by Key: pending, firing, and resolved within history
	noData   map[string]bool   // rules that found nothing to judge at the last evaluation
	silences map[string]*Silence
	lastEval time.Time
	seq      uint64 // orders the outbox

	senderFor func(receiver string) sender // tests: the fake each receiver gets on a reload
}

// Options are what New needs beyond the config.
type Options struct {
	// Probes returns what the rules judge: every probe's state and fresh
	// latest report. It is called once per evaluation, outside any lock.
	Probes func() []Probe
	Store  Store
	Logger *slog.Logger
	// OnChange is called (outside the engine's lock) after an evaluation
	// changed an alert's state, so cached views can follow.
	OnChange func()
	// Hostname is the host label of every alert; default os.Hostname.
	Hostname string
}

// New compiles cfg's rules and receivers (reading secret files) and loads
// the alerts, outbox and silences an earlier run kept.
func New(cfg *config.Config, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		log:         o.Logger.With("component", "alert"),
		src:         o.Probes,
		st:          o.Store,
		interval:    cfg.Alerting.Interval.Duration,
		history:     cfg.Alerting.History.Duration,
		externalURL: cfg.Alerting.ExternalURL,
		onChange:    o.OnChange,
		kick:        make(chan struct{}, 1),
		reloaded:    make(chan struct{}, 1),
		alerts:      map[string]*Alert{},
		noData:      map[string]bool{},
		silences:    map[string]*Silence{},
	}
	e.labels = globalLabels(cfg, o.Hostname)
	for _, a := range cfg.Alerts {
		r, err := compileRule(a)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", cfg.File, a.Line, err)
		}
		e.rules = append(e.rules, r)
	}
	var err error
	if e.receivers, err = newReceivers(cfg, e.labels["host"]); err != nil {
		return nil, err
	}
	if err := e.load(); err != nil {
		return nil, err
	}
	return e, nil
}

// globalLabels are [alerting] labels plus host, unless the file sets it.
func globalLabels(cfg *config.Config, hostname string) map[string]string {
	labels := maps.Clone(cfg.Alerting.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if _, set := labels["host"]; !set {
		if hostname == "" {
			hostname, _ = os.Hostname()
		}
		labels["host"] = hostname
	}
	return labels
}

// load reads what an earlier run kept. An entry that does not decode is
// logged and skipped: one bad record must not stop alerting.
func (e *Engine) load() error {
	if e.st == nil {
		return nil
	}
	data, err := e.st.AlertData()
	if err != nil {
		return fmt.Errorf("alert: load state: %w", err)
	}
	for k, v := range data.Alerts {
		var a Alert
		if err := json.Unmarshal(v, &a); err != nil || a.Key != k {
			e.log.Warn("ignoring unreadable alert state", "key", k, "err", err)
			continue
		}
		e.alerts[k] = &a
	}
	e.forgetReceivers()
	for k, v := range data.Silences {
		var s Silence
		if err := json.Unmarshal(v, &s); err != nil || s.ID != k {
			e.log.Warn("ignoring unreadable silence", "id", k, "err", err)
			continue
		}
		e.silences[k] = &s
	}
	byName := map[string]*receiver{}
	for _, r := range e.receivers {
		byName[r.name] = r
	}
	for _, k := range slices.Sorted(maps.Keys(data.Outbox)) {
		var m Message
		if err := json.Unmarshal(data.Outbox[k], &m); err != nil || m.ID != k {
			e.log.Warn("ignoring unreadable queued notification", "key", k, "err", err)
			continue
		}
		r := byName[m.Receiver]
		if r == nil {
			e.log.Warn("dropping a queued notification for a receiver no longer configured", "receiver", m.Receiver, "alerts", len(m.Alerts))
			_ = e.st.WriteAlerts(store.AlertWrite{Outbox: map[string][]byte{k: nil}})
			continue
		}
		m.NextAttempt = time.Time{} // the agent restarted: the receiver may be back too
		r.queue = append(r.queue, &m)
		e.seq = max(e.seq, m.Seq)
	}
	return nil
}

// forgetReceivers drops, from every alert, the receivers no longer
// configured: they will not be told the alert resolved, and must not keep
// it listed forever. e.mu is held, or the engine not yet running.
func (e *Engine) forgetReceivers() {
	configured := map[string]bool{}
	for _, r := range e.receivers {
		configured[r.name] = true
	}
	for _, a := range e.alerts {
		maps.DeleteFunc(a.Sent, func(name string, _ time.Time) bool { return !configured[name] })
	}
}

// Reload applies a new config's rules, receivers and [alerting] settings
// (SIGHUP) and keeps the rest: every alert's state, the silences, and the
// outbox of each receiver still configured (by name). Alerts of a rule
// that is gone resolve at the next evaluation. On an error (a secret file
// that cannot be read) nothing changes.
func (e *Engine) Reload(cfg *config.Config) error {
	var rules []*rule
	for _, a := range cfg.Alerts {
		r, err := compileRule(a)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", cfg.File, a.Line, err)
		}
		rules = append(rules, r)
	}
	e.mu.Lock()
	labels := globalLabels(cfg, e.labels["host"])
	e.mu.Unlock()
	recvs, err := newReceivers(cfg, labels["host"])
	if err != nil {
		return err
	}
	if e.senderFor != nil {
		for _, r := range recvs {
			r.sender = e.senderFor(r.name)
		}
	}
	e.mu.Lock()
	old := map[string]*receiver{}
	for _, r := range e.receivers {
		old[r.name] = r
	}
	for i, nr := range recvs {
		if or := old[nr.name]; or != nil {
			or.cfg, or.sender, or.rateN, or.ratePer = nr.cfg, nr.sender, nr.rateN, nr.ratePer
			recvs[i] = or
			delete(old, nr.name)
		}
	}
	var dropped map[string][]byte
	for name, r := range old {
		if len(r.queue) > 0 {
			e.log.Warn("receiver removed by a reload: its queued notifications are dropped", "receiver", name, "queued", len(r.queue))
		}
		for _, m := range r.queue {
			if dropped == nil {
				dropped = map[string][]byte{}
			}
			dropped[m.ID] = nil
		}
	}
	e.rules, e.receivers, e.labels = rules, recvs, labels
	e.interval, e.history, e.externalURL = cfg.Alerting.Interval.Duration, cfg.Alerting.History.Duration, cfg.Alerting.ExternalURL
	e.forgetReceivers()
	e.mu.Unlock()
	if dropped != nil && e.st != nil {
		if err := e.st.WriteAlerts(store.AlertWrite{Outbox: dropped}); err != nil {
			e.log.Error("dropped notifications still in the store", "err", err)
		}
	}
	for _, r := range recvs {
		r.signal() // a receiver waiting out a backoff tries its new settings
	}
	select {
	case e.reloaded <- struct{}{}:
	default:
	}
	e.Kick()
	return nil
}

// Kick asks for an evaluation now (after a probe report). It never blocks.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run evaluates the rules every [alerting] interval, on Kick, and when a
// pending alert's for, a group's wait or a repeat falls due; and delivers
// each receiver's outbox in a goroutine of its own, so a slow receiver
// delays nobody. It returns when ctx is done.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[*receiver]context.CancelFunc{}
	startStop := func() {
		e.mu.Lock()
		current := slices.Clone(e.receivers)
		e.mu.Unlock()
		keep := map[*receiver]bool{}
		for _, r := range current {
			keep[r] = true
			if running[r] != nil {
				continue
			}
			rctx, cancel := context.WithCancel(ctx)
			running[r] = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.deliver(rctx, r)
			}()
		}
		for r, cancel := range running {
			if !keep[r] {
				cancel()
				delete(running, r)
			}
		}
	}
	startStop()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.reloaded:
			startStop()
		case <-e.kick:
		case <-t.C:
		}
		next := e.Evaluate(time.Now())
		t.Reset(max(time.Until(next), 0))
	}
}

// Evaluate runs every rule at now and acts on what changed; it returns
// when the engine must look again.
func (e *Engine) Evaluate(now time.Time) time.Time {
	var probes []Probe
	if e.src != nil {
		probes = e.src()
	}
	e.mu.Lock()
	ev := evaluation{e: e, now: now, next: now.Add(e.interval), dirty: map[string]bool{}}
	ev.rules(probes)
	ev.silences()
	ev.notify()
	ev.forget()
	e.lastEval = now
	changed := ev.persist()
	e.mu.Unlock()
	if changed && e.onChange != nil {
		e.onChange()
	}
	for _, r := range ev.wake {
		r.signal()
	}
	return ev.next
}

// evaluation is one pass of Evaluate, under the engine's lock.
type evaluation struct {
	e      *Engine
	now    time.Time
	next   time.Time
	dirty  map[string]bool // alert keys to write (or delete)
	events []store.Event
	outbox map[string][]byte
	silenc map[string][]byte
	wake   []*receiver
	moved  bool // an alert changed state, or a rule found or lost its data
}

func (ev *evaluation) wakeAt(t time.Time) {
	if t.Before(ev.next) {
		ev.next = t
	}
}

func (ev *evaluation) rules(probes []Probe) {
	e := ev.e
	reporting := map[string]bool{} // probes with a fresh report, by name
	listed := map[string]bool{}
	for _, p := range probes {
		listed[p.Name] = true
		reporting[p.Name] = p.Report != nil
	}
	known := map[string]*rule{}
	for _, r := range e.rules {
		known[r.name] = r
		if r.disabled {
			continue
		}
		obs, seen := r.observe(probes)
		if prev, ok := e.noData[r.name]; !ok || prev == seen {
			ev.moved = true // "no data" came or went: views follow
		}
		e.noData[r.name] = !seen
		current := map[string]bool{}
		open := false // the rule has alerts: every observation must be looked up
		for _, a := range e.alerts {
			if a.Rule == r.name && a.State != StateResolved {
				open = true
				break
			}
		}
		for _, o := range obs {
			if !o.trigger && !open {
				continue // all clear, the common case: no key to build
			}
			labels := maps.Clone(e.labels)
			maps.Copy(labels, r.labels)
			maps.Copy(labels, o.labels())
			labels["alertname"], labels["severity"] = r.name, r.severity
			k := alertKey(r.name, labels)
			current[k] = true
			a := e.alerts[k]
			if a == nil || a.State == StateResolved {
				if !o.trigger {
					continue
				}
				a = &Alert{Key: k, Rule: r.name, Severity: r.severity, Labels: labels, ActiveAt: ev.now}
				e.alerts[k] = a
				r.annotate(a, o)
				ev.transition(a, "", StatePending)
			}
			r.annotate(a, o)
			switch a.State {
			case StatePending:
				if !o.trigger {
					ev.transition(a, StatePending, "inactive")
					delete(e.alerts, k)
					continue
				}
				if due := a.ActiveAt.Add(r.hold); ev.now.Before(due) {
					ev.wakeAt(due)
					continue
				}
				t := ev.now
				a.FiredAt = &t
				ev.transition(a, StatePending, StateFiring)
			case StateFiring:
				if !o.hold {
					ev.resolve(a, "")
				}
			}
		}
		// What the rule no longer finds (a series gone, an entity healthy
		// again, a probe back to ok). A probe with no fresh report (just
		// started, failing, stale) says nothing either way: its alerts keep
		// their state; a probe no longer configured resolves them.
		for k, a := range e.alerts {
			if a.Rule != r.name || current[k] {
				continue
			}
			probe := a.Labels["probe"]
			if r.kind != KindProbe && listed[probe] && !reporting[probe] {
				continue
			}
			ev.drop(a, "")
		}
	}
	for _, a := range e.alerts {
		if r := known[a.Rule]; r == nil || r.disabled {
			ev.drop(a, "its rule is no longer configured or is disabled")
		}
	}
}

// drop ends an alert whose cause is gone: a pending one quietly, a
// firing one resolved.
func (ev *evaluation) drop(a *Alert, why string) {
	switch a.State {
	case StatePending:
		ev.transition(a, StatePending, "inactive")
		delete(ev.e.alerts, a.Key)
	case StateFiring:
		ev.resolve(a, why)
	}
}

func (ev *evaluation) resolve(a *Alert, why string) {
	t := ev.now
	a.ResolvedAt = &t
	if why != "" {
		a.Annotations["resolved_because"] = why
	}
	ev.transition(a, StateFiring, StateResolved)
}

// transition records a state change: the alert's new state, and an event.
func (ev *evaluation) transition(a *Alert, from, to string) {
	ev.moved = true
	if to != "inactive" {
		a.State = to
	}
	ev.dirty[a.Key] = true
	health := sdk.StatusOK
	if s := SeverityStatus(a.Severity); s != "" && (to == StatePending || to == StateFiring) {
		health = s
	}
	msg := fmt.Sprintf("alert %s: %s", a.Key, to)
	if from != "" {
		msg = fmt.Sprintf("alert %s: %s -> %s", a.Key, from, to)
	}
	if s := a.Annotations["summary"]; s != "" && to != "inactive" {
		msg += ": " + s
	}
	ev.events = append(ev.events, store.Event{
		Time: ev.now, Probe: EventProbe, Kind: "alert", ID: a.Key, Name: a.Rule,
		From: from, To: to, Health: health, Message: msg,
	})
}

// SeverityStatus is how bad an alert of severity is, as a status:
// critical is crit, warning warn, and info "" (listed, no alarm).
func SeverityStatus(severity string) sdk.Status {
	switch severity {
	case config.SeverityCritical:
		return sdk.StatusCrit
	case config.SeverityWarning:
		return sdk.StatusWarn
	}
	return ""
}

// alertKey names an alert: its rule and its labels but alertname and
// severity, in selector syntax: disk-full{host="web-1",mount="/",...}.
func alertKey(rule string, labels map[string]string) string {
	l := maps.Clone(labels)
	delete(l, "alertname")
	delete(l, "severity")
	return selector.Selector{Name: rule, Labels: l}.String()
}

// forget drops resolved alerts older than the history once every
// receiver that was told they fired has been told they resolved.
func (ev *evaluation) forget() {
	for k, a := range ev.e.alerts {
		if a.State != StateResolved || len(a.Sent) > 0 {
			continue
		}
		end := a.ResolvedAt.Add(ev.e.history)
		if ev.now.Before(end) {
			ev.wakeAt(end)
			continue
		}
		delete(ev.e.alerts, k)
		ev.dirty[k] = true
	}
}

// persist writes the changed alerts, the new outbox entries and the
// events in one transaction. It says whether any alert changed state.
func (ev *evaluation) persist() bool {
	e := ev.e
	if e.st == nil || len(ev.dirty)+len(ev.events)+len(ev.outbox)+len(ev.silenc) == 0 {
		return ev.moved
	}
	w := store.AlertWrite{Alerts: map[string][]byte{}, Outbox: ev.outbox, Silences: ev.silenc, Events: ev.events}
	for k := range ev.dirty {
		a, ok := e.alerts[k]
		if !ok {
			w.Alerts[k] = nil
			continue
		}
		b, err := json.Marshal(a)
		if err != nil {
			e.log.Error("encode alert", "alert", k, "err", err)
			continue
		}
		w.Alerts[k] = b
	}
	if err := e.st.WriteAlerts(w); err != nil {
		// Alerting goes on from memory; a restart before the store
		// writes again may notify twice or forget a pending alert.
		e.log.Error("alert state not saved", "err", err)
	}
	return ev.moved
}
