package system

// This file turns a snapshot into a report. It does no I/O, so the golden
// test can run it on a stored snapshot of a real machine.

import (
	stdnet "net"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	psnet "github.com/shirou/gopsutil/v3/net"

	"github.com/barbossa-agent/barbossa/sdk"
)

// tcpStates are the TCP states counted in system.net.connections. All are
// reported, zeros included, so every series exists from the first run. They
// are in the kernel's order: state n of /proc/net/tcp is tcpStates[n-1].
var tcpStates = []string{
	"ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
}

// build turns one run's readings into a report: metrics, the host entity,
// listener entities, and a status from the thresholds.
func build(cfg parsedConfig, s *snapshot, cpuPct cpuPercents) sdk.Report {
	r := sdk.Report{Status: sdk.StatusOK, Metrics: make([]sdk.Metric, 0, 128), Entities: []sdk.Entity{}}
	var findings []finding

	if cpuPct.Known {
		r.Gauge("system.cpu.percent", cpuPct.Total, nil)
		r.Gauge("system.cpu.iowait_percent", cpuPct.Iowait, nil)
		r.Gauge("system.cpu.steal_percent", cpuPct.Steal, nil)
	}
	for _, name := range sortedKeys(cpuPct.PerCPU) {
		r.Gauge("system.cpu.percent", cpuPct.PerCPU[name], map[string]string{"cpu": strings.TrimPrefix(name, "cpu")})
	}
	if s.Host.CPUs > 0 {
		r.Gauge("system.cpu.count", float64(s.Host.CPUs), nil)
	}

	if m := s.Memory; m != nil {
		r.Gauge("system.memory.total_bytes", float64(m.Total), nil)
		r.Gauge("system.memory.used_bytes", float64(m.Used), nil)
		r.Gauge("system.memory.available_bytes", float64(m.Available), nil)
		r.Gauge("system.memory.used_percent", m.UsedPercent, nil)
		findings = appendFinding(findings, "memory used", m.UsedPercent, cfg.MemoryWarnPercent, cfg.MemoryCritPercent, "%")
	}
	if sw := s.Swap; sw != nil {
		r.Gauge("system.swap.total_bytes", float64(sw.Total), nil)
		r.Gauge("system.swap.used_bytes", float64(sw.Used), nil)
		r.Gauge("system.swap.used_percent", sw.UsedPercent, nil)
	}

	for _, d := range s.Disks {
		l := map[string]string{"mount": d.Partition.Mountpoint, "device": d.Partition.Device, "fstype": d.Partition.Fstype}
		r.Gauge("system.disk.total_bytes", float64(d.Usage.Total), l)
		r.Gauge("system.disk.used_bytes", float64(d.Usage.Used), l)
		r.Gauge("system.disk.free_bytes", float64(d.Usage.Free), l)
		r.Gauge("system.disk.used_percent", d.Usage.UsedPercent, l)
		if d.Usage.InodesTotal > 0 {
			r.Gauge("system.disk.inodes_used_percent", d.Usage.InodesUsedPercent, l)
		}
		findings = appendFinding(findings, "disk "+d.Partition.Mountpoint+" used", d.Usage.UsedPercent, cfg.DiskWarnPercent, cfg.DiskCritPercent, "%")
	}

	for _, name := range sortedKeys(s.DiskIO) {
		if !keepDiskIO(name, cfg.diskIOExclude) {
			continue
		}
		c := s.DiskIO[name]
		l := map[string]string{"device": name}
		r.Gauge("system.diskio.read_bytes", float64(c.ReadBytes), l)
		r.Gauge("system.diskio.write_bytes", float64(c.WriteBytes), l)
		r.Gauge("system.diskio.reads", float64(c.ReadCount), l)
		r.Gauge("system.diskio.writes", float64(c.WriteCount), l)
		r.Gauge("system.diskio.io_time_seconds", float64(c.IoTime)/1000, l)
	}

	for _, n := range s.Net {
		if !keepInterface(n.Name, cfg.InterfaceExclude) {
			continue
		}
		l := map[string]string{labelInterface: n.Name}
		r.Gauge(metricBytesSent, float64(n.BytesSent), l)
		r.Gauge(metricBytesRecv, float64(n.BytesRecv), l)
		r.Gauge(metricPacketsSent, float64(n.PacketsSent), l)
		r.Gauge(metricPacketsRecv, float64(n.PacketsRecv), l)
		r.Gauge(metricErrIn, float64(n.Errin), l)
		r.Gauge(metricErrOut, float64(n.Errout), l)
		r.Gauge(metricDropIn, float64(n.Dropin), l)
		r.Gauge(metricDropOut, float64(n.Dropout), l)
	}

	if ld := s.Load; ld != nil {
		r.Gauge("system.load.1", ld.Load1, nil)
		r.Gauge("system.load.5", ld.Load5, nil)
		r.Gauge("system.load.15", ld.Load15, nil)
		if s.Host.CPUs > 0 {
			findings = appendFinding(findings, "load1 per cpu", ld.Load1/float64(s.Host.CPUs), cfg.LoadWarnPerCPU, cfg.LoadCritPerCPU, "")
		}
	}
	if s.Host.BootTime > 0 {
		r.Gauge("system.uptime_seconds", float64(s.Host.Uptime), nil)
		r.Gauge("system.boot_time_seconds", float64(s.Host.BootTime), nil)
	}
	if pr := s.Procs; pr != nil {
		r.Gauge("system.processes", float64(pr.ProcsTotal), nil)
		r.Gauge("system.processes.running", float64(pr.ProcsRunning), nil)
		r.Gauge("system.processes.blocked", float64(pr.ProcsBlocked), nil)
	}

	if cfg.Connections && s.Conns != nil {
		addConnections(&r, s.Conns, s.ProcNames, cfg.MaxListeners)
	}

	r.Status, r.Message = verdict(findings, s.Errors)
	if h := s.Host; h.Hostname != "" {
		// The host goes first: it is the summary a reader looks for.
		r.Entities = append([]sdk.Entity{hostEntity(h, r.Status)}, r.Entities...)
	}
	return r
}

// addConnections adds connection counts, the listener count and up to max
// listener entities.
func addConnections(r *sdk.Report, conns []psnet.ConnectionStat, names map[int32]string, max int) {
	counts := make(map[string]int, len(tcpStates))
	udp := 0
	for _, c := range conns {
		switch c.Type {
		case syscall.SOCK_STREAM:
			counts[c.Status]++
		case syscall.SOCK_DGRAM:
			udp++
		}
	}
	for _, st := range tcpStates {
		r.Gauge(metricConnections, float64(counts[st]), map[string]string{labelConnState: st})
	}
	r.Gauge(metricUDPSockets, float64(udp), nil)

	ls := listeners(conns)
	r.Gauge(metricListeners, float64(len(ls)), nil)
	for i, l := range ls {
		if i >= max {
			break
		}
		r.Add(l.entity(names[l.PID]))
	}
}

// listener is a socket waiting for peers: a TCP socket in LISTEN, or a UDP
// socket bound to a port with no fixed peer (what `ss -tuln` lists).
type listener struct {
	Proto   string // tcp or udp
	Family  string // ipv4 or ipv6
	Address string
	Port    uint32
	PID     int32
}

// ID names a listener as "tcp/0.0.0.0:22" or "tcp/[::]:22".
func (l listener) ID() string {
	return l.Proto + "/" + stdnet.JoinHostPort(l.Address, strconv.FormatUint(uint64(l.Port), 10))
}

func (l listener) entity(process string) sdk.Entity {
	name := stdnet.JoinHostPort(l.Address, strconv.FormatUint(uint64(l.Port), 10))
	attrs := map[string]any{
		"proto":   l.Proto,
		"family":  l.Family,
		"address": l.Address,
		"port":    l.Port,
	}
	if l.PID > 0 {
		attrs["pid"] = l.PID
	}
	if process != "" {
		attrs["process"] = process
		name = process + " " + name
	}
	return sdk.Entity{Kind: kindListener, ID: l.ID(), Name: name, State: "listening", Health: sdk.StatusOK, Attrs: attrs}
}

// listenerProto says whether c waits for peers, and over which protocol.
func listenerProto(c psnet.ConnectionStat) (string, bool) {
	switch {
	case c.Type == syscall.SOCK_STREAM && c.Status == "LISTEN":
		return "tcp", true
	case c.Type == syscall.SOCK_DGRAM && c.Laddr.Port != 0 && c.Raddr.Port == 0:
		return "udp", true
	}
	return "", false
}

// listeners picks the listening sockets out of a connection table, one per
// ID (forked servers share one socket), sorted by proto, port and address.
func listeners(conns []psnet.ConnectionStat) []listener {
	seen := map[string]int{}
	var out []listener
	for _, c := range conns {
		var l listener
		var ok bool
		if l.Proto, ok = listenerProto(c); !ok {
			continue
		}
		l.Family = "ipv4"
		if c.Family == syscall.AF_INET6 {
			l.Family = "ipv6"
		}
		l.Address, l.Port, l.PID = c.Laddr.IP, c.Laddr.Port, c.Pid
		id := l.ID()
		if i, ok := seen[id]; ok {
			if out[i].PID <= 0 {
				out[i].PID = l.PID
			}
			continue
		}
		seen[id] = len(out)
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Address < b.Address
	})
	return out
}

// hostEntity is the host summary the portal shows. Its health is the run's
// status: the host is as healthy as its worst threshold.
func hostEntity(h hostInfo, status sdk.Status) sdk.Entity {
	attrs := map[string]any{
		"os":               h.OS,
		"platform":         h.Platform,
		"platform_family":  h.PlatformFamily,
		"platform_version": h.PlatformVersion,
		"kernel":           h.Kernel,
		"arch":             h.Arch,
		"cpus":             h.CPUs,
		"uptime":           h.Uptime,
	}
	if h.BootTime > 0 {
		attrs["boot_time"] = time.Unix(int64(h.BootTime), 0).UTC().Format(attrBootTimeLayout)
	}
	if h.Virtualization != "" {
		attrs["virtualization"] = h.Virtualization
	}
	if h.CPUModel != "" {
		attrs["cpu_model"] = h.CPUModel
	}
	return sdk.Entity{Kind: kindHost, ID: h.Hostname, Name: h.Hostname, State: "up", Health: status, Attrs: attrs}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
