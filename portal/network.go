package portal

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// The network view is derived from the system probe's latest report: the
// metrics system.net.<counter>{interface=...}, system.net.connections{state=...},
// system.net.udp_sockets, system.net.listeners and the "listener" entities.
const (
	systemSource = "builtin:system"
	netPrefix    = "system.net."
)

// derived heads a body derived from one probe's latest report (the
// network view, the projects): which probe, and whether it had one.
type derived struct {
	// Available is false when there is no such probe or no fresh report
	// from it; Message says which.
	Available bool       `json:"available"`
	Message   string     `json:"message,omitempty"`
	Probe     string     `json:"probe,omitempty"`
	State     string     `json:"state,omitempty"`
	Time      *time.Time `json:"time"`
}

// derive fills the head from probe h (found false: none is configured,
// which missing says) and returns its fresh report, or nil.
func (sn *snapshot) derive(h scheduler.Health, found bool, missing string) (derived, *store.Record) {
	var d derived
	if !found {
		d.Message = missing
		return d, nil
	}
	d.Probe, d.State = h.Name, h.State
	rec, ok := sn.latest[h.Name]
	if !ok {
		d.Message = "no fresh report from probe " + h.Name
		return d, nil
	}
	d.Available = true
	t := rec.Time
	d.Time = &t
	return d, rec
}

type networkBody struct {
	derived
	Connections    connections      `json:"connections"`
	ListenersTotal int              `json:"listeners_total"`
	Listeners      []listenerView   `json:"listeners"`
	Interfaces     []map[string]any `json:"interfaces"`
}

type connections struct {
	// TCP is the sum of ByState; UDP counts UDP sockets.
	TCP     int            `json:"tcp"`
	UDP     int            `json:"udp"`
	ByState map[string]int `json:"by_state"`
}

type listenerView struct {
	Proto   string `json:"proto"`
	Family  string `json:"family,omitempty"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	PID     int    `json:"pid,omitempty"`
	Process string `json:"process,omitempty"`
}

// systemProbe finds the probe that runs builtin:system: the one named
// "system" if it does, else the first that does, else one named "system".
func systemProbe(hs []scheduler.Health) (scheduler.Health, bool) {
	var first, named *scheduler.Health
	for i := range hs {
		h := &hs[i]
		isSys := h.Source == systemSource
		if h.Name == "system" {
			if isSys {
				return *h, true
			}
			named = h
		}
		if isSys && first == nil {
			first = h
		}
	}
	switch {
	case first != nil:
		return *first, true
	case named != nil:
		return *named, true
	}
	return scheduler.Health{}, false
}

func (sn *snapshot) network() networkBody {
	b := networkBody{
		Connections: connections{ByState: map[string]int{}},
		Listeners:   []listenerView{},
		Interfaces:  []map[string]any{},
	}
	h, found := systemProbe(sn.health)
	var rec *store.Record
	if b.derived, rec = sn.derive(h, found, "no system probe is configured"); rec == nil {
		return b
	}

	ifaces := map[string]map[string]any{}
	for _, m := range rec.Report.Metrics {
		if !strings.HasPrefix(m.Name, netPrefix) {
			continue
		}
		what := strings.TrimPrefix(m.Name, netPrefix)
		switch {
		case m.Labels["interface"] != "":
			name := m.Labels["interface"]
			ifc := ifaces[name]
			if ifc == nil {
				ifc = map[string]any{"name": name}
				ifaces[name] = ifc
			}
			ifc[what] = m.Value
		case what == "connections" && m.Labels["state"] != "":
			n := int(m.Value)
			b.Connections.ByState[m.Labels["state"]] += n
			b.Connections.TCP += n
		case what == "udp_sockets":
			b.Connections.UDP = int(m.Value)
		case what == "listeners":
			b.ListenersTotal = int(m.Value)
		}
	}
	names := make([]string, 0, len(ifaces))
	for n := range ifaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.Interfaces = append(b.Interfaces, ifaces[n])
	}
	for _, e := range rec.Report.Entities {
		if e.Kind == "listener" {
			b.Listeners = append(b.Listeners, newListenerView(e))
		}
	}
	if b.ListenersTotal < len(b.Listeners) {
		b.ListenersTotal = len(b.Listeners)
	}
	return b
}

// newListenerView reads a listener entity's attrs. They may have been through
// JSON (numbers as float64) or not (the probe's own integer types).
func newListenerView(e sdk.Entity) listenerView {
	return listenerView{
		Proto:   attrString(e.Attrs, "proto"),
		Family:  attrString(e.Attrs, "family"),
		Address: attrString(e.Attrs, "address"),
		Port:    attrInt(e.Attrs, "port"),
		PID:     attrInt(e.Attrs, "pid"),
		Process: attrString(e.Attrs, "process"),
	}
}

func attrString(a map[string]any, k string) string {
	s, _ := a[k].(string)
	return s
}

func attrInt(a map[string]any, k string) int {
	switch v := a[k].(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0
		}
		return int(v)
	case int:
		return v
	case int32:
		return int(v)
	case int64:
		return int(v)
	case uint32:
		return int(v)
	case uint64:
		return int(v)
	}
	return 0
}
