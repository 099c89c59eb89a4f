// Package agent wires the parts of Barbossa together: it turns a config into
// scheduled probes, sends their reports to the store, and serves them through
// the portal. It owns start-up order and graceful shutdown, nothing else.
//
//	a, err := agent.New(cfg, logger, "1.0.0")
//	if err != nil { ... }
//	err = a.Run(ctx) // until ctx is cancelled; then drains, flushes, closes
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/limits"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/portal"
	"github.com/barbossa-agent/barbossa/sdk"
)

// ABIVersion is the WASM ABI and plugin protocol version this agent speaks.
const ABIVersion = abi.Version

// gcPercent is the agent's GOGC unless the environment sets one. Go's 100
// lets the heap grow to twice what is live before collecting; at 50 the
// default agent stays ~10 MB smaller (80.6 vs 90.8 MB after 10 minutes,
// docs/PERFORMANCE.md) for a few more collections of an ~18 MB live heap
// (29 instead of 15 in 9 minutes), which cost no measurable CPU.
const gcPercent = 50

// Agent is one running Barbossa.
type Agent struct {
	cfg     *config.Config
	log     *slog.Logger
	version string
	started time.Time

	store  *store.Store
	sched  *scheduler.Scheduler
	portal *portal.Server
	alerts *alert.Engine

	// changes counts data changes; the portal re-encodes when it moves,
	// and live streams wake on it.
	changes portal.Changes
	// staleWake wakes watchStaleness when reports or probes arrive.
	staleWake chan struct{}

	mu     sync.RWMutex
	probes map[string]config.Probe
	guards map[string]*limits.Guard // each probe's limits, applied before the store
	// collectors is only touched by New, Run's shutdown and probe reloads,
	// which the agent serialises: Run waits for the drop-in watcher (the
	// only goroutine reloading) to return before it closes collectors.
	collectors map[string]scheduler.Collector

	wasm    wasmRuntime // the WASM host and shared modules (wasm.go)
	dropIns dropIns     // probes from probes_dir (reload.go)

	// reloads carries Reload's requests to loop (configreload.go), which
	// closes loopDone when it returns; beat is when loop last went round
	// (Unix ns), for the watchdog.
	reloads  chan chan error
	loopDone chan struct{}
	endLoop  func() // closes loopDone, once
	beat     atomic.Int64
	notify   notifier // sd_notify (notify.go)
}

// New opens the store and prepares every configured probe. Nothing runs
// until Run.
func New(cfg *config.Config, logger *slog.Logger, version string) (*Agent, error) {
	if cfg.Agent.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.Agent.MemoryLimit))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	a := &Agent{
		cfg:     cfg,
		log:     logger,
		version: version,
		started: time.Now(),
		probes:  map[string]config.Probe{},
		guards:  map[string]*limits.Guard{},

		staleWake: make(chan struct{}, 1),

		collectors: map[string]scheduler.Collector{},
		reloads:    make(chan chan error),
		loopDone:   make(chan struct{}),
		notify:     systemdNotifier{},
	}
	dataDir := cfg.Path(cfg.Agent.DataDir)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	st, err := store.Open(store.Options{
		Dir:           dataDir + "/store",
		Retention:     cfg.Store.Retention.Duration,
		BatchSize:     cfg.Store.BatchSize,
		FlushInterval: cfg.Store.FlushInterval.Duration,
		MinFree:       uint64(cfg.Store.MinFree),
		Logger:        logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	a.store = st
	a.endLoop = sync.OnceFunc(func() { close(a.loopDone) })
	a.sched = scheduler.New(scheduler.Options{
		Workers:  cfg.Agent.Workers,
		OnResult: a.record,
		Logger:   logger,
	})
	for _, p := range cfg.Probes {
		if err := a.addProbe(p); err != nil {
			a.closeAll()
			return nil, err
		}
	}
	a.initDropIns()
	a.alerts, err = alert.New(cfg, alert.Options{
		Probes: a.alertProbes, Store: st, Logger: logger,
		OnChange: func() { a.changes.Bump() },
	})
	if err != nil {
		a.closeAll()
		return nil, err
	}
	token, err := cfg.Token()
	if err != nil {
		a.closeAll()
		return nil, err
	}
	if n := len(cfg.Portal.Actions.Units) + len(cfg.Portal.Actions.Containers); n > 0 && token == "" {
		logger.Warn("[portal.actions] grants actions but no [portal] token is set: every action will be refused")
	}
	a.portal = portal.New(portal.Config{
		Listen:  cfg.Portal.Listen,
		Token:   token,
		TLSCert: cfg.Path(cfg.Portal.TLSCert),
		TLSKey:  cfg.Path(cfg.Portal.TLSKey),
		Actions: portal.Actions{
			Units:      cfg.Portal.Actions.Units,
			Containers: cfg.Portal.Actions.Containers,
			Actor:      a, // actions.go
		},
		Collectors:      append(a.selfMetrics(), a.alerts.Collector()),
		Alerts:          a.alerts,
		Hosts:           cfg.Portal.Hosts,
		InsecureNoToken: cfg.Portal.InsecureNoToken,
		PProf:           cfg.Portal.PProf,
	}, a, logger.With("component", "portal"))
	return a, nil
}

// selfMetrics are what /metrics says about the agent beyond its probes.
func (a *Agent) selfMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "barbossa_store_dropped_records_total",
			Help: "Reports and events dropped because the store's write queue stayed full.",
		}, func() float64 { return float64(a.store.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "barbossa_probes",
			Help: "Probes the agent runs, drop-ins included.",
		}, func() float64 { return float64(len(a.sched.Health())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "barbossa_store_writable",
			Help: "1 while the store writes; 0 while it does not, for lack of free space (see /api/v1/status).",
		}, func() float64 {
			if a.store.Health().Writable {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "barbossa_store_free_bytes",
			Help: "Free space on the store's filesystem at the store's last look, its own reserve included.",
		}, func() float64 { return float64(a.store.Health().FreeBytes) }),
	}
}

// addProbe builds the collector for one probe entry and schedules it.
func (a *Agent) addProbe(p config.Probe) error {
	var c scheduler.Collector
	if !p.Disabled {
		if errs := grantProblems(p); len(errs) > 0 {
			return errors.Join(errs...) // as barbossa check says it
		}
		var err error
		if c, err = a.collector(withLimits(p, a.cfg.Limits)); err != nil {
			var located *config.Error
			if errors.As(err, &located) {
				return err
			}
			return fmt.Errorf("%s:%d: probe %q: %w", a.cfg.File, p.Line, p.Name, err)
		}
	}
	return a.schedule(p, c)
}

// schedule hands a probe and its collector (nil when disabled) to the
// scheduler; on failure the collector is closed.
func (a *Agent) schedule(p config.Probe, c scheduler.Collector) error {
	job := scheduler.Job{
		Name:       p.Name,
		Runtime:    p.Runtime,
		Source:     p.Source,
		Request:    sdk.Request{Probe: p.Name, Config: p.Config},
		Interval:   p.Interval.Duration,
		Timeout:    p.Timeout.Duration,
		StaleAfter: p.StaleAfter.Duration,
		Disabled:   p.Disabled,
		Collector:  c,
	}
	// Known before its first run, which starts in Add when the scheduler
	// runs: a result finds the probe's entry and its limits.
	a.mu.Lock()
	_, taken := a.probes[p.Name]
	if !taken {
		a.probes[p.Name] = p
		a.guards[p.Name] = limits.New(p.Limits.Or(a.cfg.Limits).Config())
	}
	a.mu.Unlock()
	if err := a.sched.Add(job); err != nil {
		if !taken {
			a.mu.Lock()
			delete(a.probes, p.Name)
			delete(a.guards, p.Name)
			a.mu.Unlock()
		}
		a.closeCollector(p.Name, job.Collector)
		return fmt.Errorf("probe %q: %w", p.Name, err)
	}
	a.collectors[p.Name] = job.Collector
	a.wakeStalenessWatcher()
	return nil
}

// withLimits is p with the keys its [probe.limits] leaves out taken from
// global, the [limits] it runs under: what its collector (max_depth) and
// its guard (the rest) apply.
func withLimits(p config.Probe, global config.Limits) config.Probe {
	p.Limits = p.Limits.Or(global)
	return p
}

// collector makes what runs one probe entry, whose Limits are those it
// runs under (withLimits). Each runtime lives in its own file: builtin.go,
// wasm.go, plugin.go.
func (a *Agent) collector(p config.Probe) (scheduler.Collector, error) {
	for _, w := range grantWarnings(p) {
		a.log.Warn("a grant wider than it reads", "probe", p.Name, "warning", w.Error())
	}
	switch p.Runtime {
	case config.RuntimeBuiltin:
		return builtinProbe(p.Source)
	case config.RuntimeWASM:
		return a.wasmCollector(p)
	case config.RuntimePlugin:
		return a.pluginCollector(p)
	}
	return nil, fmt.Errorf("runtime %q is not available in this build", p.Runtime)
}

// closeCollector releases what a collector holds (a WASM instance, a plugin
// process) once the scheduler no longer runs it.
func (a *Agent) closeCollector(name string, c scheduler.Collector) {
	if cl, ok := c.(io.Closer); ok {
		if err := cl.Close(); err != nil {
			a.log.Warn("closing probe", "probe", name, "err", err)
		}
	}
}

// record is the scheduler's OnResult: it applies the probe's limits to the
// report, keeps what passes in memory for the portal and hands it to the
// store's batching writer. What is over a limit is dropped here, counted
// against the probe (its health, /metrics) and logged once per reason.
func (a *Agent) record(res scheduler.Result) {
	a.mu.RLock()
	p := a.probes[res.Probe]
	guard := a.guards[res.Probe]
	a.mu.RUnlock()
	rec := store.Record{
		Probe:      res.Probe,
		Time:       res.Start,
		DurationMS: float64(res.Duration.Microseconds()) / 1000,
		Report:     res.Report,
		Retention:  p.Retention.Duration,
		StaleAfter: p.StaleAfter.Duration,
	}
	if res.Err != nil {
		// A failed run keeps the last good report; it is not data.
		a.changes.Bump()
		a.alerts.Kick()
		return
	}
	if guard == nil {
		return // removed while this run was finishing
	}
	var dropped map[string]uint64
	rec.Report, dropped = guard.Apply(res.Start, res.Report)
	if dropped != nil {
		a.logDropped(res.Probe, guard, dropped)
	}
	a.store.Put(rec)
	a.changes.Bump()
	a.wakeStalenessWatcher()
	a.alerts.Kick()
}

// logDropped logs the first time each reason drops something of a probe's
// reports; the counts go on in its health and in /metrics.
func (a *Agent) logDropped(probe string, g *limits.Guard, dropped map[string]uint64) {
	totals := g.Dropped()
	c := g.Config()
	max := map[string]any{
		limits.ReasonMetrics: c.Metrics, limits.ReasonEntities: c.Entities, limits.ReasonNameBytes: c.NameBytes,
		limits.ReasonLabels: c.Labels, limits.ReasonLabelNameBytes: c.LabelNameBytes,
		limits.ReasonLabelValueBytes: c.LabelValueBytes, limits.ReasonSeries: c.Series,
	}
	for reason, n := range dropped {
		if totals[reason] != n {
			continue // not the first time
		}
		args := []any{"probe", probe, "reason", reason, "dropped", n}
		if v, ok := max[reason]; ok {
			args = append(args, "limit", v)
		}
		a.log.Warn("probe report over its limits: the excess is dropped (counted in the probe's health, logged once)", args...)
	}
}

// Run starts the scheduler and the portal and blocks until ctx is done or
// the portal fails; then the portal drains, probes stop, the store flushes.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.endLoop() // when loop never ran: Reload must not wait for it
	a.log.Info("barbossa starting", "version", a.version, "config", a.cfg.File,
		"probes", len(a.cfg.Probes), "data_dir", a.cfg.Path(a.cfg.Agent.DataDir))
	if err := a.portal.Listen(); err != nil {
		a.closeAll()
		return err
	}
	portalErr := make(chan error, 1)
	go func() { portalErr <- a.portal.ListenAndServe(ctx) }()
	// The portal answers while the built-in WASM modules load; the probes
	// start once they have (wasm.go, pendingWASM), so no run waits for a
	// compilation, and every probe's first run is at the same moment.
	a.waitForWASM(ctx)
	a.sched.Start(ctx)
	go a.watchStaleness(ctx)
	alerting := make(chan struct{})
	go func() {
		defer close(alerting)
		a.alerts.Run(ctx)
	}()
	go a.loop(ctx)

	a.notify.Notify(daemon.SdNotifyReady + "\nSTATUS=running; portal on " + a.portal.Addr())
	if every := watchdogInterval(); every > 0 {
		go watchdog(ctx, every, a.notify, func() bool { return a.alive(every) })
	}

	var err error
	select {
	case <-ctx.Done():
		err = <-portalErr // the portal drains on ctx
	case err = <-portalErr:
		cancel()
	}
	a.notify.Notify(daemon.SdNotifyStopping)
	a.log.Info("barbossa stopping")
	<-a.loopDone // ctx is done: the loop returns after any reload in progress
	a.sched.Stop()
	<-alerting // its last writes go in before the store closes
	if cerr := a.closeAll(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	a.log.Info("barbossa stopped")
	return err
}

// waitForWASM returns once the built-in WASM modules are loaded, or ctx is
// done.
func (a *Agent) waitForWASM(ctx context.Context) {
	loaded := make(chan struct{})
	go func() {
		a.wasm.loading.Wait()
		close(loaded)
	}()
	select {
	case <-loaded:
	case <-ctx.Done():
	}
}

// closeAll closes every collector, the WASM host and the store.
func (a *Agent) closeAll() error {
	for name, c := range a.collectors {
		a.closeCollector(name, c)
	}
	if err := a.wasm.close(); err != nil {
		a.log.Warn("closing the WASM host", "err", err)
	}
	if err := a.store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// watchStaleness moves the change counter when a probe's health state or the
// freshness of its report flips without a new result (a probe going stale),
// so cached responses follow. It sleeps until the next moment such a flip
// can happen, or until a report or a probe arrives (staleWake): an idle
// agent's probes go stale seconds apart at most once per run, so polling
// every second would be ~all wake-ups for nothing.
func (a *Agent) watchStaleness(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.staleWake:
		}
		var sig strings.Builder
		for _, h := range a.sched.Health() {
			_, fresh, _ := a.Latest(h.Name)
			fmt.Fprintf(&sig, "%s=%s/%t;", h.Name, h.State, fresh)
		}
		if sig.String() != last {
			last = sig.String()
			a.changes.Bump()
		}
		t.Stop()
		if next := a.nextFlip(time.Now()); !next.IsZero() {
			t.Reset(time.Until(next))
		}
	}
}

// nextFlip is the earliest time after now at which a probe turns stale or
// its report stops being served as fresh (the store's rule); zero if never.
func (a *Agent) nextFlip(now time.Time) time.Time {
	next := a.sched.NextStateChange(now)
	if at := a.store.NextStale(now); !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next = at
	}
	return next
}

// wakeStalenessWatcher tells watchStaleness that the times at which probes
// go stale have moved (a report, a new probe).
func (a *Agent) wakeStalenessWatcher() {
	select {
	case a.staleWake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Addr is where the portal listens, once Run has started it.
func (a *Agent) Addr() string { return a.portal.Addr() }
