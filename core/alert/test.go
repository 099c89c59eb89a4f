package alert

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
)

// TestResult is what one receiver did with a test notification.
type TestResult struct {
	Receiver string
	Type     string
	Err      error
	Took     time.Duration
}

// Test sends a test notification for name through each of its routes, at
// once, without the outbox or the store (the agent may be running and
// holding it): name is a rule, whose alert goes to every receiver it
// routes to, or a receiver. The alert is marked as a test (the title
// starts with [TEST], Alertmanager gets label test="true").
func Test(ctx context.Context, cfg *config.Config, name, hostname string) ([]TestResult, error) {
	labels := globalLabels(cfg, hostname)
	recvs, err := newReceivers(cfg, labels["host"])
	if err != nil {
		return nil, err
	}
	var targets []*receiver
	a := Alert{Rule: name, State: StateFiring, Severity: config.SeverityInfo, Annotations: map[string]string{}}
	var found bool
	for _, ac := range cfg.Alerts {
		if ac.Name != name {
			continue
		}
		r, err := compileRule(ac)
		if err != nil {
			return nil, err
		}
		found = true
		a.Severity = r.severity
		maps.Copy(labels, r.labels)
		summary := fmt.Sprintf("test of rule %s (%s)", name, r.describe())
		r.annotate(&a, observation{summary: func() string { return summary }})
		a.Annotations["summary"] = summary
		for _, rc := range recvs {
			if rc.routes(r) {
				targets = append(targets, rc)
			}
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("rule %q routes to no receiver: name some with notify = [...], or add a [[notify]] whose severities and alerts admit it", name)
		}
	}
	if !found {
		for _, rc := range recvs {
			if rc.name == name {
				targets = append(targets, rc)
				a.Annotations["summary"] = "test of receiver " + name
			}
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%q is neither an [[alert]] nor a [[notify]] name", name)
	}
	labels["alertname"], labels["severity"] = a.Rule, a.Severity
	a.Labels = labels
	a.Key = alertKey(name, labels)
	now := time.Now()
	a.ActiveAt, a.FiredAt = now, &now
	var out []TestResult
	for _, rc := range targets {
		m := &Message{ID: "test", Receiver: rc.name, Created: now, Alerts: []Alert{a}, Test: true}
		sctx, cancel := context.WithTimeout(ctx, rc.cfg.Timeout.Duration)
		start := time.Now()
		err := rc.send(sctx, m)
		cancel()
		out = append(out, TestResult{Receiver: rc.name, Type: rc.cfg.Type, Err: err, Took: time.Since(start)})
	}
	return out, nil
}
