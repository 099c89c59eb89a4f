package agent

import (
	"os"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/portal"
)

// The agent is what the portal reads from.
var _ portal.Source = (*Agent)(nil)

// Version moves whenever data the portal shows changes.
func (a *Agent) Version() uint64 { return a.changes.Version() }

// Changed is closed at the next change.
func (a *Agent) Changed() <-chan struct{} { return a.changes.Changed() }

// Health is every probe's scheduler health, with what the agent dropped of
// its reports (its limits, the store) and its active series.
func (a *Agent) Health() []scheduler.Health {
	hs := a.sched.Health()
	a.mu.RLock()
	defer a.mu.RUnlock()
	for i := range hs {
		h := &hs[i]
		h.Dropped = map[string]uint64{}
		if g := a.guards[h.Name]; g != nil {
			h.Dropped = g.Dropped()
			h.Series = g.Series()
		}
		for reason, n := range a.store.Drops(h.Name) {
			h.Dropped[reason] += n
		}
	}
	return hs
}

// StoreHealth says whether the store is writing.
func (a *Agent) StoreHealth() store.Health { return a.store.Health() }

// Latest is a probe's last good report as the store keeps it, which owns
// staleness: none once it is older than the stale_after it was put with (a
// silent probe shows as stale, never as fresh old data), and none for a
// probe the agent no longer runs.
func (a *Agent) Latest(probe string) (store.Record, bool, error) {
	a.mu.RLock()
	_, known := a.probes[probe]
	a.mu.RUnlock()
	if !known {
		return store.Record{}, false, nil
	}
	return a.store.Latest(probe)
}

// QueryEach reads history from the store, one series at a time.
func (a *Agent) QueryEach(q store.Query, fn func(store.Series) error) error {
	return a.store.QueryEach(q, fn)
}

// SeriesList lists stored series, a page at a time.
func (a *Agent) SeriesList(m store.Match, cursor string, limit int) ([]store.SeriesInfo, string, error) {
	return a.store.SeriesList(m, cursor, limit)
}

// Events lists entity state changes and audited actions, newest first.
func (a *Agent) Events(since time.Time, limit int) ([]store.Event, error) {
	return a.store.Events(since, limit)
}

// Host is the agent's own part of the host summary; the portal adds the
// machine's facts from the system probe's report (plugins/system reads it).
func (a *Agent) Host() portal.Host {
	h := portal.Host{AgentVersion: a.version, StartedAt: a.started}
	h.Hostname, _ = os.Hostname()
	return h
}

func (a *Agent) snapshotProbes() map[string]config.Probe {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make(map[string]config.Probe, len(a.probes))
	for k, v := range a.probes {
		out[k] = v
	}
	return out
}
