package portal

import (
	"time"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/plugins/system"
)

// The network view and the host summary are derived from the system
// probe's latest report, read by plugins/system's own readers: the portal
// never spells the probe's metric names. The config names the in-process
// probes builtin:NAME.
const systemSource = "builtin:" + system.Name

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
	Connections    connections     `json:"connections"`
	ListenersTotal int             `json:"listeners_total"`
	Listeners      []listenerView  `json:"listeners"`
	Interfaces     []interfaceView `json:"interfaces"`
}

// interfaceView is one interface's counters since boot.
type interfaceView struct {
	Name        string  `json:"name"`
	BytesSent   float64 `json:"bytes_sent"`
	BytesRecv   float64 `json:"bytes_recv"`
	PacketsSent float64 `json:"packets_sent"`
	PacketsRecv float64 `json:"packets_recv"`
	ErrIn       float64 `json:"errin"`
	ErrOut      float64 `json:"errout"`
	DropIn      float64 `json:"dropin"`
	DropOut     float64 `json:"dropout"`
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
		Interfaces:  []interfaceView{},
	}
	h, found := systemProbe(sn.health)
	var rec *store.Record
	if b.derived, rec = sn.derive(h, found, "no system probe is configured"); rec == nil {
		return b
	}
	c := system.ReadConnections(rec.Report)
	b.Connections = connections{TCP: c.TCP, UDP: c.UDP, ByState: c.ByState}
	for _, ifc := range system.ReadInterfaces(rec.Report) {
		b.Interfaces = append(b.Interfaces, interfaceView(ifc))
	}
	for _, l := range system.ReadListeners(rec.Report) {
		b.Listeners = append(b.Listeners, listenerView(l))
	}
	b.ListenersTotal = max(c.Listeners, len(b.Listeners))
	return b
}

// withSystemHost fills the host summary from the system probe's host entity
// when it has a fresh report.
func (sn *snapshot) withSystemHost(h Host) Host {
	p, found := systemProbe(sn.health)
	rec := sn.latest[p.Name]
	if !found || rec == nil {
		return h
	}
	sys, ok := system.ReadHost(rec.Report)
	if !ok {
		return h
	}
	h.Hostname, h.OS, h.Platform, h.PlatformVersion = sys.Hostname, sys.OS, sys.Platform, sys.PlatformVersion
	h.Kernel, h.Arch, h.CPUs = sys.Kernel, sys.Arch, sys.CPUs
	h.UptimeSeconds, h.BootTime = sys.UptimeSeconds, sys.BootTime
	return h
}
