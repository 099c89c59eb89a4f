package tmux

import (
	"fmt"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// report turns sessions into the probe's report. now is when they were
// read, for idle times. It is pure, so the whole output is table-tested.
//
// Entities are keyed by session name, which survives a server restart
// (session ids restart at $0), so an entity's history follows the session
// a user knows.
func report(sessions []Session, server string, now time.Time) sdk.Report {
	r := sdk.Report{Status: sdk.StatusOK, Metrics: []sdk.Metric{}, Entities: []sdk.Entity{}}
	clients, attached := 0, 0
	for _, s := range sessions {
		clients += s.Attached
		if s.Attached > 0 {
			attached++
		}
		labels := func() map[string]string { return map[string]string{"server": server, "session": s.Name} }
		r.Gauge("tmux.session.windows", float64(s.Windows), labels())
		r.Gauge("tmux.session.panes", float64(len(s.Panes)), labels())
		r.Gauge("tmux.session.clients", float64(s.Attached), labels())
		if !s.Activity.IsZero() {
			r.Gauge("tmux.session.idle_seconds", max(now.Sub(s.Activity).Seconds(), 0), labels())
		}
		r.Add(entity(s))
	}
	r.Gauge("tmux.sessions", float64(len(sessions)), map[string]string{"server": server})
	r.Gauge("tmux.clients", float64(clients), map[string]string{"server": server})
	switch {
	case len(sessions) == 0:
		r.Message = "no tmux sessions (no server running on " + server + ")"
	default:
		r.Message = fmt.Sprintf("%d %s, %d attached", len(sessions), plural(len(sessions), "session"), attached)
	}
	return r
}

func entity(s Session) sdk.Entity {
	state := "detached"
	if s.Attached > 0 {
		state = "attached"
	}
	health := sdk.StatusOK
	dead := 0
	panes := make([]any, 0, len(s.Panes))
	for _, p := range s.Panes {
		if p.Dead {
			dead++
		}
		panes = append(panes, map[string]any{
			"window":      p.Window,
			"window_name": p.WindowName,
			"pane":        p.Index,
			"command":     p.Command,
			"pid":         p.PID,
			"active":      p.Active,
			"dead":        p.Dead,
		})
	}
	if dead > 0 {
		// A pane whose command exited is kept open by remain-on-exit: the
		// session is there, but something in it stopped.
		health = sdk.StatusWarn
	}
	attrs := map[string]any{
		"session_id": s.ID,
		"windows":    s.Windows,
		"clients":    s.Attached,
		"path":       s.Path,
		"panes":      panes,
	}
	if dead > 0 {
		attrs["dead_panes"] = dead
	}
	if !s.Created.IsZero() {
		attrs["created"] = s.Created.Format(time.RFC3339)
	}
	if !s.Activity.IsZero() {
		attrs["activity"] = s.Activity.Format(time.RFC3339)
	}
	return sdk.Entity{Kind: "session", ID: s.Name, Name: s.Name, State: state, Health: health, Attrs: attrs}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
