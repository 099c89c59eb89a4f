package alert

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Rule kinds: what a rule watches.
const (
	KindSeries = "series"
	KindEntity = "entity"
	KindProbe  = "probe"
)

// Probe is what the engine reads of one probe at an evaluation.
type Probe struct {
	Name string
	// State is the scheduler's: ok, failing, timeout, stale, pending,
	// disabled.
	State    string
	Failures int    // failed runs in a row
	Error    string // of the last run
	// Report is the probe's latest fresh report, nil when it has none.
	Report *sdk.Report
}

// rule is one [[alert]] entry, compiled.
type rule struct {
	name, kind, severity string
	sel                  selector.Selector
	above                bool    // the threshold is an upper bound (above = ...)
	threshold, clear     float64 // series rules
	entity               config.EntityMatch
	probe                config.ProbeMatch
	hold                 time.Duration // for
	notify               []string      // receivers by name; nil: by their filters
	labels               map[string]string
	annotations          map[string]*template.Template // text/template, over annotationData
	disabled             bool
	line                 int
}

func compileRule(a config.Alert) (*rule, error) {
	r := &rule{
		name: a.Name, severity: a.Severity, hold: a.For.Duration, notify: a.Notify,
		labels: a.Labels, disabled: a.Disabled, line: a.Line,
	}
	for k, v := range a.Annotations {
		t, err := config.ParseAnnotation(v)
		if err != nil {
			return nil, fmt.Errorf("alert %q: annotations: %s: %w", a.Name, k, err)
		}
		if r.annotations == nil {
			r.annotations = map[string]*template.Template{}
		}
		r.annotations[k] = t
	}
	switch {
	case a.Series != "":
		r.kind = KindSeries
		sel, err := selector.Parse(a.Series)
		if err != nil {
			return nil, fmt.Errorf("alert %q: series: %w", a.Name, err)
		}
		r.sel = sel
		switch {
		case a.Above != nil:
			r.above, r.threshold = true, *a.Above
		case a.Below != nil:
			r.threshold = *a.Below
		default:
			return nil, fmt.Errorf("alert %q: a series rule needs above or below", a.Name)
		}
		r.clear = r.threshold
		if a.Clear != nil {
			r.clear = *a.Clear
		}
	case a.Entity != nil:
		r.kind, r.entity = KindEntity, *a.Entity
	case a.Probe != nil:
		r.kind, r.probe = KindProbe, *a.Probe
		r.probe.Runs = max(r.probe.Runs, 1)
	default:
		return nil, fmt.Errorf("alert %q watches nothing", a.Name)
	}
	return r, nil
}

// observation is one thing a rule found at an evaluation: a series, an
// entity or a probe, with whether it breaks the rule now (trigger) and
// whether an alert already firing for it stays firing (hold: the clear
// side of the hysteresis).
type observation struct {
	labels  func() map[string]string // identity beyond alertname: probe, series labels, entity
	value   *float64
	trigger bool
	hold    bool
	summary func() string // built only for an alert: most observations are all clear
}

// observe evaluates the rule over the probes. seen is false when nothing
// the rule could judge exists: no probe reported its series, no entity
// of its kind, no probe of its name ("no data").
func (r *rule) observe(probes []Probe) (obs []observation, seen bool) {
	switch r.kind {
	case KindSeries:
		for _, p := range probes {
			if p.Report == nil {
				continue
			}
			for _, m := range p.Report.Metrics {
				if !r.sel.Matches(p.Name, m.Name, m.Labels) {
					continue
				}
				seen = true
				v := m.Value
				probe := p.Name
				o := observation{value: &v, labels: func() map[string]string {
					labels := maps.Clone(m.Labels)
					if labels == nil {
						labels = map[string]string{}
					}
					if _, taken := labels[selector.ProbeLabel]; taken {
						labels["exported_probe"] = labels[selector.ProbeLabel]
					}
					labels[selector.ProbeLabel] = probe
					labels["metric"] = m.Name
					return labels
				}}
				side := "below"
				if r.above {
					o.trigger, o.hold, side = v > r.threshold, v >= r.clear, "above"
				} else {
					o.trigger, o.hold = v < r.threshold, v <= r.clear
				}
				o.summary = func() string {
					return fmt.Sprintf("%s is %s, %s %s", seriesName(probe, m), num(v), side, num(r.threshold))
				}
				obs = append(obs, o)
			}
		}
	case KindEntity:
		m := r.entity
		for _, p := range probes {
			if p.Report == nil || !glob(m.Probe, p.Name) {
				continue
			}
			for _, e := range p.Report.Entities {
				if !glob(m.Kind, e.Kind) || !glob(m.Name, e.Name) && !glob(m.Name, e.ID) {
					continue
				}
				seen = true
				bad := (len(m.State) == 0 || sdk.MatchGlob(m.State, e.State)) &&
					(len(m.Health) == 0 || slices.Contains(m.Health, string(e.Health)))
				if !bad {
					continue
				}
				name := e.Name
				if name == "" {
					name = e.ID
				}
				obs = append(obs, observation{
					labels: func() map[string]string {
						return map[string]string{selector.ProbeLabel: p.Name, "kind": e.Kind, "id": e.ID, "name": name}
					},
					trigger: true, hold: true,
					summary: func() string { return fmt.Sprintf("%s %s is %s (health %s)", e.Kind, name, e.State, e.Health) },
				})
			}
		}
	case KindProbe:
		m := r.probe
		for _, p := range probes {
			if !glob(m.Name, p.Name) || p.State == "disabled" {
				continue
			}
			seen = true
			bad := slices.Contains(m.State, p.State) &&
				(p.State == "stale" || p.Failures >= m.Runs)
			if !bad {
				continue
			}
			s := fmt.Sprintf("probe %s is %s", p.Name, p.State)
			if p.Failures > 0 {
				s += fmt.Sprintf(" (%d failed runs in a row)", p.Failures)
			}
			if p.Error != "" {
				s += ": " + p.Error
			}
			obs = append(obs, observation{
				labels:  func() map[string]string { return map[string]string{selector.ProbeLabel: p.Name} },
				trigger: true, hold: true, summary: func() string { return s },
			})
		}
	}
	return obs, seen
}

// describe says what the rule watches, for the API and messages.
func (r *rule) describe() string {
	switch r.kind {
	case KindSeries:
		op, clear := ">", ""
		if !r.above {
			op = "<"
		}
		if r.clear != r.threshold {
			clear = fmt.Sprintf(" (clears at %s)", num(r.clear))
		}
		return fmt.Sprintf("%s %s %s%s", r.sel, op, num(r.threshold), clear)
	case KindEntity:
		var parts []string
		for _, kv := range [][2]string{{"probe", r.entity.Probe}, {"kind", r.entity.Kind}, {"name", r.entity.Name}} {
			if kv[1] != "" && kv[1] != "*" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		if len(r.entity.State) > 0 {
			parts = append(parts, "state in "+strings.Join(r.entity.State, "|"))
		}
		if len(r.entity.Health) > 0 {
			parts = append(parts, "health in "+strings.Join(r.entity.Health, "|"))
		}
		return "entity " + strings.Join(parts, ", ")
	default:
		name := r.probe.Name
		if name == "" {
			name = "*"
		}
		s := fmt.Sprintf("probe %s %s", name, strings.Join(r.probe.State, "|"))
		if r.probe.Runs > 1 {
			s += fmt.Sprintf(" for %d runs", r.probe.Runs)
		}
		return s
	}
}

// glob matches name against an optional pattern of a rule: an empty one
// matches anything.
func glob(pattern, name string) bool {
	return pattern == "" || sdk.MatchGlob([]string{pattern}, name)
}

func seriesName(probe string, m sdk.Metric) string {
	s := selector.Selector{Name: m.Name, Probe: probe, Labels: m.Labels}
	return s.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// annotationData is what an annotation template sees:
// {{.Labels.mount}}, {{printf "%.1f" .Value}}, {{.Threshold}}.
type annotationData struct {
	Rule      string
	Labels    map[string]string
	Value     float64
	Threshold float64
	Clear     float64
}

// annotate sets the alert's value and annotations from what the rule
// observed: each template executed (a failing one is shown as written), and
// a summary of Barbossa's unless the rule writes one.
func (r *rule) annotate(a *Alert, o observation) {
	a.Value = o.value
	a.Annotations = make(map[string]string, len(r.annotations)+1)
	d := annotationData{Rule: r.name, Labels: a.Labels, Threshold: r.threshold, Clear: r.clear}
	if o.value != nil {
		d.Value = *o.value
	}
	for k, t := range r.annotations {
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			b.Reset()
			b.WriteString(t.Root.String())
		}
		a.Annotations[k] = b.String()
	}
	if a.Annotations["summary"] == "" {
		a.Annotations["summary"] = o.summary()
	}
}
