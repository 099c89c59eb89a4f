package system

// This file is the other half of build.go: typed readers of the report the
// probe makes, for the agent and the portal (the host summary, the network
// view). They read names this file shares with build.go, so the report and
// its readers change together; TestReadersGolden reads the stored
// snapshot's report back and fails when either side drifts.

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Name is the probe's name (Info), which the config's builtin:system names.
const Name = "system"

// Entity kinds and metric names of the report that the readers read.
const (
	kindHost     = "host"
	kindListener = "listener"

	netPrefix          = "system.net."
	metricBytesSent    = netPrefix + "bytes_sent"
	metricBytesRecv    = netPrefix + "bytes_recv"
	metricPacketsSent  = netPrefix + "packets_sent"
	metricPacketsRecv  = netPrefix + "packets_recv"
	metricErrIn        = netPrefix + "errin"
	metricErrOut       = netPrefix + "errout"
	metricDropIn       = netPrefix + "dropin"
	metricDropOut      = netPrefix + "dropout"
	metricConnections  = netPrefix + "connections"
	metricUDPSockets   = netPrefix + "udp_sockets"
	metricListeners    = netPrefix + "listeners"
	labelInterface     = "interface"
	labelConnState     = "state"
	attrBootTimeLayout = time.RFC3339
)

// Host is the report's host entity: what the machine is.
type Host struct {
	Hostname        string
	OS              string
	Platform        string
	PlatformVersion string
	Kernel          string
	Arch            string
	CPUs            int
	UptimeSeconds   uint64
	BootTime        time.Time
}

// ReadHost reads the host entity; ok is false when the report has none.
func ReadHost(r sdk.Report) (h Host, ok bool) {
	for _, e := range r.Entities {
		if e.Kind != kindHost {
			continue
		}
		a := e.Attrs
		h = Host{
			Hostname: e.Name, OS: attrString(a, "os"), Platform: attrString(a, "platform"),
			PlatformVersion: attrString(a, "platform_version"), Kernel: attrString(a, "kernel"),
			Arch: attrString(a, "arch"), CPUs: int(attrNumber(a, "cpus")), UptimeSeconds: uint64(attrNumber(a, "uptime")),
		}
		if t, err := time.Parse(attrBootTimeLayout, attrString(a, "boot_time")); err == nil {
			h.BootTime = t
		}
		return h, true
	}
	return Host{}, false
}

// Interface is one network interface's counters since boot.
type Interface struct {
	Name                     string
	BytesSent, BytesRecv     float64
	PacketsSent, PacketsRecv float64
	ErrIn, ErrOut            float64
	DropIn, DropOut          float64
}

// ReadInterfaces reads the interfaces' counters, sorted by name.
func ReadInterfaces(r sdk.Report) []Interface {
	byName := map[string]*Interface{}
	for _, m := range r.Metrics {
		name := m.Labels[labelInterface]
		if name == "" || !strings.HasPrefix(m.Name, netPrefix) {
			continue
		}
		ifc := byName[name]
		if ifc == nil {
			ifc = &Interface{Name: name}
			byName[name] = ifc
		}
		switch m.Name {
		case metricBytesSent:
			ifc.BytesSent = m.Value
		case metricBytesRecv:
			ifc.BytesRecv = m.Value
		case metricPacketsSent:
			ifc.PacketsSent = m.Value
		case metricPacketsRecv:
			ifc.PacketsRecv = m.Value
		case metricErrIn:
			ifc.ErrIn = m.Value
		case metricErrOut:
			ifc.ErrOut = m.Value
		case metricDropIn:
			ifc.DropIn = m.Value
		case metricDropOut:
			ifc.DropOut = m.Value
		}
	}
	out := make([]Interface, 0, len(byName))
	for _, ifc := range byName {
		out = append(out, *ifc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Connections counts the host's sockets.
type Connections struct {
	TCP     int            // the sum of ByState
	ByState map[string]int // TCP sockets by state (ESTABLISHED, LISTEN, ...)
	UDP     int            // UDP sockets
	// Listeners counts every listening socket, also those past the
	// report's max_listeners entities.
	Listeners int
}

// ReadConnections reads the connection counts (zero when the probe's
// connections setting is off).
func ReadConnections(r sdk.Report) Connections {
	c := Connections{ByState: map[string]int{}}
	for _, m := range r.Metrics {
		switch m.Name {
		case metricConnections:
			if st := m.Labels[labelConnState]; st != "" {
				c.ByState[st] += int(m.Value)
				c.TCP += int(m.Value)
			}
		case metricUDPSockets:
			c.UDP = int(m.Value)
		case metricListeners:
			c.Listeners = int(m.Value)
		}
	}
	return c
}

// Listener is a socket waiting for peers, as a listener entity tells it.
type Listener struct {
	Proto   string // tcp or udp
	Family  string // ipv4 or ipv6
	Address string
	Port    int
	PID     int    // 0 when unknown
	Process string // "" when unknown
}

// ReadListeners reads the listener entities, in the report's order.
func ReadListeners(r sdk.Report) []Listener {
	out := []Listener{}
	for _, e := range r.Entities {
		if e.Kind != kindListener {
			continue
		}
		a := e.Attrs
		out = append(out, Listener{
			Proto: attrString(a, "proto"), Family: attrString(a, "family"), Address: attrString(a, "address"),
			Port: int(attrNumber(a, "port")), PID: int(attrNumber(a, "pid")), Process: attrString(a, "process"),
		})
	}
	return out
}

// attrString and attrNumber read an entity's attrs, which are the probe's
// own Go values in a report fresh from an in-process run and JSON values
// (strings, float64) in one read back from the store or a WASM probe.
func attrString(a map[string]any, k string) string {
	s, _ := a[k].(string)
	return s
}

func attrNumber(a map[string]any, k string) float64 {
	var f float64
	switch v := a[k].(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint64:
		f = float64(v)
	}
	if math.IsNaN(f) || f < 0 || f > 1<<53 { // past 2^53 no count is exact
		return 0
	}
	return f
}
