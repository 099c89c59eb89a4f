package docker

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// The parts of Engine API responses the probe reads, decoded field by
// field from sdk.JSON (decodeListed, decodeInspected, decodeStats): in a
// WASM guest encoding/json costs several times as much, and its reflection
// a quarter of the module.

// listed is one entry of GET /containers/json?all=1.
type listed struct {
	ID      string
	Names   []string
	Image   string
	Command string
	Created int64  // unix seconds
	State   string // created, running, paused, restarting, removing, exited, dead
	Status  string // "Up 2 hours (healthy)", "Exited (1) 3 minutes ago"
	Ports   []port
	Labels  map[string]string
}

type port struct {
	IP          string
	PrivatePort int
	PublicPort  int
	Type        string
}

func decodeListed(j sdk.JSON) listed {
	l := listed{
		ID:      j.Get("Id").Str(),
		Image:   j.Get("Image").Str(),
		Command: j.Get("Command").Str(),
		Created: j.Get("Created").Int(),
		State:   j.Get("State").Str(),
		Status:  j.Get("Status").Str(),
	}
	for _, n := range j.Get("Names").Array() {
		l.Names = append(l.Names, n.Str())
	}
	for _, p := range j.Get("Ports").Array() {
		l.Ports = append(l.Ports, port{
			IP:          p.Get("IP").Str(),
			PrivatePort: int(p.Get("PrivatePort").Int()),
			PublicPort:  int(p.Get("PublicPort").Int()),
			Type:        p.Get("Type").Str(),
		})
	}
	if lbl := j.Get("Labels"); lbl.Len() > 0 {
		l.Labels = make(map[string]string, lbl.Len())
		lbl.Each(func(k string, v sdk.JSON) { l.Labels[k] = v.Str() })
	}
	return l
}

// Name is the container's name without the leading "/".
func (l listed) Name() string {
	for _, n := range l.Names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") { // "/web/db" is a legacy link alias
			return n
		}
	}
	if len(l.ID) >= 12 {
		return l.ID[:12]
	}
	return l.ID
}

// inspected is the part of GET /containers/{id}/json the probe reads.
type inspected struct {
	RestartCount int
	State        struct {
		Status     string
		OOMKilled  bool
		Dead       bool
		ExitCode   int
		Error      string
		StartedAt  time.Time
		FinishedAt time.Time
		Health     *health
	}
}

type health struct {
	Status        string // starting, healthy, unhealthy
	FailingStreak int
}

func decodeInspected(j sdk.JSON) inspected {
	var in inspected
	in.RestartCount = int(j.Get("RestartCount").Int())
	st := j.Get("State")
	in.State.Status = st.Get("Status").Str()
	in.State.OOMKilled = st.Get("OOMKilled").Bool()
	in.State.Dead = st.Get("Dead").Bool()
	in.State.ExitCode = int(st.Get("ExitCode").Int())
	in.State.Error = st.Get("Error").Str()
	in.State.StartedAt = st.Get("StartedAt").Time()
	in.State.FinishedAt = st.Get("FinishedAt").Time()
	if h := st.Get("Health"); h.Kind() == sdk.KindObject {
		in.State.Health = &health{Status: h.Get("Status").Str(), FailingStreak: int(h.Get("FailingStreak").Int())}
	}
	return in
}

// stats is the part of GET /containers/{id}/stats?stream=false&one-shot=true
// the probe reads; cgroup v1 and v2 fields both.
type stats struct {
	Read     time.Time
	CPUStats cpuStats
	PreCPU   cpuStats
	Memory   struct {
		Usage uint64
		Limit uint64
		Stats map[string]uint64
	}
	Networks map[string]netIO
	Blkio    struct {
		IOServiceBytes []blkio
	}
	Pids struct {
		Current uint64
	}
}

type netIO struct{ RxBytes, TxBytes uint64 }

type blkio struct {
	Op    string
	Value uint64
}

type cpuStats struct {
	Usage struct {
		Total  uint64
		PerCPU []uint64
	}
	System     uint64
	OnlineCPUs int
}

func decodeCPU(j sdk.JSON) cpuStats {
	var c cpuStats
	c.Usage.Total = j.Get("cpu_usage", "total_usage").Uint()
	for _, v := range j.Get("cpu_usage", "percpu_usage").Array() {
		c.Usage.PerCPU = append(c.Usage.PerCPU, v.Uint())
	}
	c.System = j.Get("system_cpu_usage").Uint()
	c.OnlineCPUs = int(j.Get("online_cpus").Int())
	return c
}

func decodeStats(j sdk.JSON) stats {
	var s stats
	s.Read = j.Get("read").Time()
	s.CPUStats = decodeCPU(j.Get("cpu_stats"))
	s.PreCPU = decodeCPU(j.Get("precpu_stats"))
	mem := j.Get("memory_stats")
	s.Memory.Usage = mem.Get("usage").Uint()
	s.Memory.Limit = mem.Get("limit").Uint()
	if ms := mem.Get("stats"); ms.Len() > 0 {
		s.Memory.Stats = make(map[string]uint64, ms.Len())
		ms.Each(func(k string, v sdk.JSON) { s.Memory.Stats[k] = v.Uint() })
	}
	if nets := j.Get("networks"); nets.Len() > 0 {
		s.Networks = make(map[string]netIO, nets.Len())
		nets.Each(func(k string, v sdk.JSON) {
			s.Networks[k] = netIO{RxBytes: v.Get("rx_bytes").Uint(), TxBytes: v.Get("tx_bytes").Uint()}
		})
	}
	for _, e := range j.Get("blkio_stats", "io_service_bytes_recursive").Array() {
		s.Blkio.IOServiceBytes = append(s.Blkio.IOServiceBytes, blkio{Op: e.Get("op").Str(), Value: e.Get("value").Uint()})
	}
	s.Pids.Current = j.Get("pids_stats", "current").Uint()
	return s
}

// cpuSample is what a CPU percentage is computed from: the container's and
// the host's CPU time, in nanoseconds, at one reading.
type cpuSample struct {
	Total, System uint64
	CPUs          int
}

func (c cpuStats) sample() cpuSample {
	n := c.OnlineCPUs
	if n == 0 {
		n = len(c.Usage.PerCPU)
	}
	return cpuSample{Total: c.Usage.Total, System: c.System, CPUs: n}
}

// cpuPercent is docker stats' figure: the container's share of the host's
// CPU time between two readings, times the number of CPUs (so one busy CPU
// is 100%). ok is false when the readings cannot be compared.
func cpuPercent(prev, cur cpuSample) (float64, bool) {
	if prev.System == 0 || cur.System <= prev.System || cur.Total < prev.Total {
		return 0, false
	}
	n := cur.CPUs
	if n == 0 {
		n = 1
	}
	return float64(cur.Total-prev.Total) / float64(cur.System-prev.System) * float64(n) * 100, true
}

// memoryUsed is the memory docker stats shows: usage without the page
// cache the kernel can drop (inactive_file on cgroup v2,
// total_inactive_file on v1).
func (s stats) memoryUsed() uint64 {
	u := s.Memory.Usage
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.Memory.Stats[k]; ok && v < u {
			return u - v
		}
	}
	return u
}

// blockIO sums read and write bytes over devices.
func (s stats) blockIO() (read, write uint64) {
	for _, e := range s.Blkio.IOServiceBytes {
		switch strings.ToLower(e.Op) {
		case "read":
			read += e.Value
		case "write":
			write += e.Value
		}
	}
	return read, write
}

// network sums bytes over interfaces; ok is false when the container has no
// network (network mode none or host).
func (s stats) network() (rx, tx uint64, ok bool) {
	for _, n := range s.Networks {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	return rx, tx, len(s.Networks) > 0
}

// portList renders ports as docker ps does: "0.0.0.0:8080->80/tcp", "443/tcp".
func portList(ps []port) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		s := strconv.Itoa(p.PrivatePort) + "/" + p.Type
		if p.PublicPort != 0 {
			s = p.IP + ":" + strconv.Itoa(p.PublicPort) + "->" + s
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return compact(out)
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
