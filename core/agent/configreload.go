package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/core/scheduler"
)

// Reloading the main config (SIGHUP, `systemctl reload barbossa`):
//
//   - The file the agent was started with is read again and checked as
//     `barbossa check` checks it. If anything is wrong, each problem is
//     logged with file, line and key, and the running config is kept whole.
//   - [[probe]] entries are compared by name: new ones start, removed ones
//     stop, changed ones are replaced (a fresh collector, fresh health
//     counters; the history in the store stays). Probes whose entry did not
//     change, drop-ins included, are not touched: their collectors, health
//     and schedule run on.
//   - Every collector a reload needs is built before anything is stopped,
//     so a probe that cannot be made (a module wazero refuses) refuses the
//     whole reload, as a problem in the file does.
//   - [alerting], [[alert]] and [[notify]] are swapped whole (alert.Engine
//     Reload): alerts, silences and the queues of receivers still
//     configured carry on.
//   - [limits] applies at once to every probe it reaches (those whose
//     [probe.limits] leave a changed key out, drop-ins included), in
//     place: its guard keeps its active series and drop counts, its
//     collector (instance, process) and health stay, and its next report
//     is held to the new limits (applyLimits).
//   - Other settings are read once, at start. One that changed is named in
//     the log as needing a restart, and its running value stays.

// ErrNotRunning is what Reload returns when the agent is not running (or
// no longer).
var ErrNotRunning = errors.New("the agent is not running")

// Reload re-reads the agent's config file and applies what can change
// while it runs (see above). It returns when the reload is done or
// refused, with the refusal's problems joined. Safe from any goroutine.
func (a *Agent) Reload() error {
	req := make(chan error, 1)
	select {
	case a.reloads <- req:
	case <-a.loopDone:
		return ErrNotRunning
	}
	return <-req
}

// reloadConfig is Reload, run by the loop that owns the collectors.
func (a *Agent) reloadConfig() error {
	a.notify.Notify("RELOADING=1\n" + daemon.SdNotifyMonotonicUsec())
	err := a.applyConfig()
	status := "STATUS=running; config reloaded"
	if err != nil {
		status = "STATUS=running; reload refused, the running config is kept (see the log)"
	}
	a.notify.Notify(daemon.SdNotifyReady + "\n" + status)
	// A drop-in refused because a [[probe]] held its name may load now,
	// and a reload means "now": the folder is read without waiting to
	// settle.
	d := &a.dropIns
	for stem := range d.failed {
		delete(d.acted, stem)
		delete(d.failed, stem)
	}
	a.syncDropIns(false)
	return err
}

func (a *Agent) applyConfig() error {
	if a.cfg.File == "" || strings.HasPrefix(a.cfg.File, "(") {
		err := fmt.Errorf("the agent runs %s: there is no file to reload; start it with --config FILE", a.cfg.File)
		a.log.Error("reload refused", "err", err)
		return err
	}
	a.log.Info("reloading", "config", a.cfg.File)
	data, err := os.ReadFile(a.cfg.File)
	if err != nil {
		return a.refuseReload(fmt.Errorf("config: %w", err))
	}
	next, errs, _ := CheckConfig(a.cfg.File, data) // drop-ins: syncDropIns logs the skipped
	if len(errs) > 0 {
		return a.refuseReload(errors.Join(errs...))
	}
	plan, err := a.planReload(next)
	if err != nil {
		return a.refuseReload(err)
	}
	// Alert rules and receivers are swapped whole, before any probe
	// changes, so that a receiver that cannot be made refuses the reload.
	if err := a.alerts.Reload(next); err != nil {
		for _, s := range plan.start {
			a.closeCollector(s.probe.Name, s.collector)
		}
		return a.refuseReload(err)
	}
	a.cfg.Alerting, a.cfg.Alerts, a.cfg.Notify = next.Alerting, next.Alerts, next.Notify
	if next.Limits != a.cfg.Limits {
		old := a.cfg.Limits
		a.cfg.Limits = next.Limits // new guards (schedule) take it too
		if names := a.applyLimits(old, plan.remove); len(names) > 0 {
			a.log.Info("reload: [limits] changed; applied to running probes", "probes", strings.Join(names, ","))
		}
	}
	for _, name := range plan.remove {
		a.removeProbe(name)
	}
	for _, s := range plan.start {
		if err := a.schedule(s.probe, s.collector); err != nil {
			// Names were checked free above; the scheduler can only
			// refuse when stopping.
			a.log.Error("reload: probe not started", "probe", s.probe.Name, "err", err)
		}
	}
	a.cfg.Probes = next.Probes
	if len(plan.restart) > 0 {
		a.log.Warn("reload: settings that take effect only after a restart changed; their running values stay",
			"keys", strings.Join(plan.restart, ", "))
	}
	a.log.Info("config reloaded", "config", a.cfg.File, "added", strings.Join(plan.added, ","),
		"changed", strings.Join(plan.changed, ","), "removed", strings.Join(plan.removed, ","),
		"unchanged", plan.unchanged)
	return nil
}

// depthSetter is a collector whose max_depth can change while it runs
// (wasmhost.Probe, pluginhost.Probe, pendingWASM).
type depthSetter interface{ SetMaxDepth(n int) }

var (
	_ depthSetter = (*wasmProbe)(nil)
	_ depthSetter = (*pendingWASM)(nil)
	_ depthSetter = (*pluginhost.Probe)(nil)
)

// applyLimits gives each running probe, but those in skip, the limits it
// runs under now that [limits] is a.cfg.Limits instead of old, where they
// differ: its guard's in place, keeping its active series and drop counts,
// and its collector's max_depth. It returns the names of the probes it
// changed, sorted. Only loop calls it: it reads collectors.
func (a *Agent) applyLimits(old config.Limits, skip []string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var names []string
	for name, p := range a.probes {
		was, now := p.Limits.Or(old), p.Limits.Or(a.cfg.Limits)
		if was == now || slices.Contains(skip, name) {
			continue
		}
		names = append(names, name)
		if g := a.guards[name]; g != nil {
			g.SetConfig(now.Config())
		}
		if d, ok := a.collectors[name].(depthSetter); ok {
			d.SetMaxDepth(now.MaxDepth)
		}
	}
	sort.Strings(names)
	return names
}

// refuseReload logs each of err's problems on its own line (they name
// file, line and key) and says the running config stays.
func (a *Agent) refuseReload(err error) error {
	problems := flatten(err)
	for _, e := range problems {
		a.log.Error("reload: config problem", "problem", e.Error())
	}
	a.log.Error("reload refused: the running config is kept", "config", a.cfg.File, "problems", len(problems))
	return err
}

// flatten lists the errors joined in err (errors.Join, nested).
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// reloadPlan is what a reload changes: probes to stop (removed, and the
// old version of changed ones), probes to start with their collectors
// already built, and the settings that need a restart.
type reloadPlan struct {
	remove []string
	start  []startProbe

	added, changed, removed []string
	unchanged               int
	restart                 []string
}

type startProbe struct {
	probe     config.Probe
	collector scheduler.Collector
}

// planReload compares next with the running config and builds the
// collectors of new and changed probes. On any problem it closes what it
// built and returns every problem found.
func (a *Agent) planReload(next *config.Config) (reloadPlan, error) {
	var plan reloadPlan
	plan.restart = restartKeys(a.cfg, next)
	old := map[string]config.Probe{}
	for _, p := range a.cfg.Probes {
		old[p.Name] = p
	}
	dropInNames := map[string]string{}
	for _, d := range a.dropIns.loaded {
		if p, ok := a.snapshotProbes()[d.name]; ok {
			dropInNames[d.name] = a.definedIn(p)
		}
	}
	var errs []error
	for _, p := range next.Probes {
		prev, had := old[p.Name]
		delete(old, p.Name)
		switch {
		case had && prev.Same(p):
			plan.unchanged++
			continue
		case had:
			plan.changed = append(plan.changed, p.Name)
			plan.remove = append(plan.remove, p.Name)
		default:
			if where, taken := dropInNames[p.Name]; taken {
				errs = append(errs, &config.Error{File: next.File, Line: p.Line, Key: "probe.name",
					Msg: fmt.Sprintf("probe %q is already defined in %s", p.Name, where)})
				continue
			}
			plan.added = append(plan.added, p.Name)
		}
		var c scheduler.Collector
		if !p.Disabled {
			var err error
			if c, err = a.collector(withLimits(p, next.Limits)); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: probe %q: %w", next.File, p.Line, p.Name, err))
				continue
			}
		}
		plan.start = append(plan.start, startProbe{p, c})
	}
	for name := range old {
		plan.removed = append(plan.removed, name)
		plan.remove = append(plan.remove, name)
	}
	sort.Strings(plan.removed)
	if len(errs) > 0 {
		for _, s := range plan.start {
			a.closeCollector(s.probe.Name, s.collector)
		}
		return reloadPlan{}, errors.Join(errs...)
	}
	return plan, nil
}

// restartKeys names the settings outside [[probe]] and alerting that differ between
// the running config and next, as TOML keys ("portal.listen"). They are
// read once, at start.
func restartKeys(cur, next *config.Config) []string {
	reloaded := map[string]bool{"probe": true, "alerting": true, "alert": true, "notify": true, "limits": true}
	var keys []string
	var walk func(prefix string, x, y reflect.Value)
	walk = func(prefix string, x, y reflect.Value) {
		t := x.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || tag == "" || tag == "-" || prefix == "" && reloaded[tag] {
				continue
			}
			key := prefix + tag
			if f.Type.Kind() == reflect.Struct && f.Type.NumField() > 0 && f.Type.Field(0).Tag.Get("toml") != "" {
				walk(key+".", x.Field(i), y.Field(i))
				continue
			}
			if !reflect.DeepEqual(x.Field(i).Interface(), y.Field(i).Interface()) {
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.ValueOf(*cur), reflect.ValueOf(*next))
	return keys
}

// loop is the one goroutine that changes probes while the agent runs: it
// polls the probes folder and applies reloads, until ctx is done. Run
// waits for it to return before closing collectors, so reloads and
// shutdown never touch the collectors at the same time.
func (a *Agent) loop(ctx context.Context) {
	defer a.endLoop()
	t := time.NewTicker(dropInPoll)
	defer t.Stop()
	for {
		a.beat.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.syncDropIns(true)
		case req := <-a.reloads:
			req <- a.reloadConfig()
		}
	}
}

// alive is the watchdog's test: the scheduler and the probe table answer,
// and the loop that applies changes went round within the last interval.
func (a *Agent) alive(interval time.Duration) bool {
	a.sched.Health() // takes the scheduler's lock
	_ = a.snapshotProbes()
	return time.Since(time.Unix(0, a.beat.Load())) < interval
}
