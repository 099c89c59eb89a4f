package docker

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The parts of Engine API responses the probe reads. Decoding into these
// typed structs skips everything else without allocating it, which matters
// in a WASM guest, where JSON decoding costs ~0.5 µs a byte.

// listed is one entry of GET /containers/json?all=1.
type listed struct {
	ID      string            `json:"Id"`
	Names   []string          `json:"Names"`
	Image   string            `json:"Image"`
	Command string            `json:"Command"`
	Created int64             `json:"Created"` // unix seconds
	State   string            `json:"State"`   // created, running, paused, restarting, removing, exited, dead
	Status  string            `json:"Status"`  // "Up 2 hours (healthy)", "Exited (1) 3 minutes ago"
	Ports   []port            `json:"Ports"`
	Labels  map[string]string `json:"Labels"`
}

type port struct {
	IP          string `json:"IP"`
	PrivatePort int    `json:"PrivatePort"`
	PublicPort  int    `json:"PublicPort"`
	Type        string `json:"Type"`
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
	RestartCount int `json:"RestartCount"`
	State        struct {
		Status     string    `json:"Status"`
		OOMKilled  bool      `json:"OOMKilled"`
		Dead       bool      `json:"Dead"`
		ExitCode   int       `json:"ExitCode"`
		Error      string    `json:"Error"`
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
		Health     *struct {
			Status        string `json:"Status"` // starting, healthy, unhealthy
			FailingStreak int    `json:"FailingStreak"`
		} `json:"Health"`
	} `json:"State"`
}

// stats is the part of GET /containers/{id}/stats?stream=false&one-shot=true
// the probe reads; cgroup v1 and v2 fields both.
type stats struct {
	Read     time.Time `json:"read"`
	CPUStats cpuStats  `json:"cpu_stats"`
	PreCPU   cpuStats  `json:"precpu_stats"`
	Memory   struct {
		Usage uint64            `json:"usage"`
		Limit uint64            `json:"limit"`
		Stats map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
	Networks map[string]struct {
		RxBytes uint64 `json:"rx_bytes"`
		TxBytes uint64 `json:"tx_bytes"`
	} `json:"networks"`
	Blkio struct {
		IOServiceBytes []struct {
			Op    string `json:"op"`
			Value uint64 `json:"value"`
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
	Pids struct {
		Current uint64 `json:"current"`
	} `json:"pids_stats"`
}

type cpuStats struct {
	Usage struct {
		Total  uint64   `json:"total_usage"`
		PerCPU []uint64 `json:"percpu_usage"`
	} `json:"cpu_usage"`
	System     uint64 `json:"system_cpu_usage"`
	OnlineCPUs int    `json:"online_cpus"`
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
		s := fmt.Sprintf("%d/%s", p.PrivatePort, p.Type)
		if p.PublicPort != 0 {
			s = fmt.Sprintf("%s:%d->%s", p.IP, p.PublicPort, s)
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
