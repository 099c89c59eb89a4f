package agent

import "github.com/barbossa-agent/barbossa/core/alert"

// alertProbes is what the alert rules judge: every probe's health and its
// fresh latest report (a stale one is no data, never old data).
func (a *Agent) alertProbes() []alert.Probe {
	health := a.sched.Health()
	out := make([]alert.Probe, 0, len(health))
	for _, h := range health {
		p := alert.Probe{Name: h.Name, State: h.State, Failures: h.ConsecutiveFailures, Error: h.LastError}
		if rec, ok, _ := a.Latest(h.Name); ok {
			r := rec.Report
			p.Report = &r
		}
		out = append(out, p)
	}
	return out
}
