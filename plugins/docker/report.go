package docker

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// container is what the probe learnt about one container: its list entry,
// and its inspect and stats documents when they could be read.
type container struct {
	listed
	inspect *inspected
	stats   *stats
}

// states are always counted in docker.containers, so a dashboard or an
// alert sees exited=0 rather than no series at all.
var states = []string{"created", "running", "paused", "restarting", "removing", "exited", "dead"}

// maxNamed is how many unhealthy containers the message names.
const maxNamed = 5

// buildReport turns containers into a report. prev holds the CPU readings
// of the previous run by container ID (nil on a first run); the readings of
// this run are returned for the next. It is pure: golden-tested on testdata.
func buildReport(cs []container, prev map[string]cpuSample, opts Config, note string) (sdk.Report, map[string]cpuSample) {
	cs = append([]container(nil), cs...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name() < cs[j].Name() })

	r := sdk.Report{Status: sdk.StatusOK, Metrics: []sdk.Metric{}, Entities: []sdk.Entity{}}
	next := map[string]cpuSample{}
	counts := map[string]int{}
	var bad []string
	var perContainer []sdk.Metric
	for _, c := range cs {
		counts[c.State]++
		e, why := entity(c, opts.Labels)
		name := c.Name()
		lbl := map[string]string{"container": name}
		add := func(metric string, v float64) {
			perContainer = append(perContainer, sdk.Metric{Name: metric, Labels: lbl, Value: v})
		}
		if c.inspect != nil {
			add("docker.container.restarts", float64(c.inspect.RestartCount))
		}
		if s := c.stats; s != nil && !s.Read.IsZero() {
			cur := s.CPUStats.sample()
			next[c.ID] = cur
			before, ok := prev[c.ID]
			if s.PreCPU.System > 0 { // a stats document with two readings
				before, ok = s.PreCPU.sample(), true
			}
			if pct, ok2 := cpuPercent(before, cur); ok && ok2 {
				e.Attrs["cpu_percent"] = round2(pct)
				add("docker.container.cpu_percent", round2(pct))
			}
			add("docker.container.cpu_seconds_total", float64(cur.Total)/1e9)
			mem := s.memoryUsed()
			e.Attrs["memory_bytes"] = mem
			add("docker.container.memory_bytes", float64(mem))
			if s.Memory.Limit > 0 {
				e.Attrs["memory_limit_bytes"] = s.Memory.Limit
				add("docker.container.memory_limit_bytes", float64(s.Memory.Limit))
			}
			if rx, tx, ok := s.network(); ok {
				add("docker.container.network_rx_bytes_total", float64(rx))
				add("docker.container.network_tx_bytes_total", float64(tx))
			}
			rd, wr := s.blockIO()
			add("docker.container.block_read_bytes_total", float64(rd))
			add("docker.container.block_write_bytes_total", float64(wr))
			add("docker.container.pids", float64(s.Pids.Current))
			e.Attrs["pids"] = s.Pids.Current
		}
		r.Add(e)
		r.Worst(e.Health)
		if why != "" {
			bad = append(bad, name+" "+why)
		}
	}
	extra := []string{}
	for s := range counts {
		if !contains(states, s) {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	for _, s := range append(append([]string(nil), states...), extra...) {
		r.Gauge("docker.containers", float64(counts[s]), map[string]string{"state": s})
	}
	r.Metrics = append(r.Metrics, perContainer...)
	r.Message = message(len(cs), counts, bad, note)
	return r, next
}

// entity is a container as an entity. why says what makes it crit or warn.
func entity(c container, labels bool) (e sdk.Entity, why string) {
	e = sdk.Entity{
		Kind:   "container",
		ID:     c.ID,
		Name:   c.Name(),
		State:  c.State,
		Health: sdk.StatusOK,
		Attrs: map[string]any{
			"image":   c.Image,
			"command": c.Command,
			"status":  c.Status,
			"created": time.Unix(c.Created, 0).UTC().Format(time.RFC3339),
			"ports":   portList(c.Ports),
		},
	}
	if labels && len(c.Labels) > 0 {
		e.Attrs["labels"] = c.Labels
	}
	health := healthFromStatus(c.Status)
	exitCode, exited := exitCodeFromStatus(c.Status)
	oom := false
	if in := c.inspect; in != nil {
		e.Attrs["restart_count"] = in.RestartCount
		if !in.State.StartedAt.IsZero() && in.State.StartedAt.Year() > 1 {
			e.Attrs["started_at"] = in.State.StartedAt.UTC().Format(time.RFC3339)
		}
		if h := in.State.Health; h != nil {
			health = h.Status
			e.Attrs["failing_streak"] = h.FailingStreak
		}
		if c.State == "exited" || c.State == "dead" {
			exitCode, exited = in.State.ExitCode, true
			if in.State.FinishedAt.Year() > 1 {
				e.Attrs["finished_at"] = in.State.FinishedAt.UTC().Format(time.RFC3339)
			}
		}
		oom = in.State.OOMKilled
		if in.State.Error != "" {
			e.Attrs["error"] = in.State.Error
		}
	}
	if health != "" {
		e.Attrs["health"] = health
	}
	if exited {
		e.Attrs["exit_code"] = exitCode
	}
	if oom {
		e.Attrs["oom_killed"] = true
	}
	switch {
	case c.State == "dead":
		e.Health, why = sdk.StatusCrit, "dead"
	case oom:
		e.Health, why = sdk.StatusCrit, "killed: out of memory"
	case c.State == "exited" && exited && exitCode != 0:
		e.Health, why = sdk.StatusCrit, fmt.Sprintf("exited %d", exitCode)
	case health == "unhealthy":
		e.Health, why = sdk.StatusCrit, "unhealthy"
	case c.State == "restarting":
		e.Health, why = sdk.StatusWarn, "restarting"
	}
	return e, why
}

// healthFromStatus reads the health check state from a list entry's
// Status ("Up 3 minutes (unhealthy)"), for when inspect could not be read.
func healthFromStatus(status string) string {
	for _, h := range []string{"healthy", "unhealthy", "health: starting"} {
		if strings.Contains(status, "("+h+")") {
			return strings.TrimPrefix(h, "health: ")
		}
	}
	return ""
}

// exitCodeFromStatus reads the exit code from "Exited (2) 3 minutes ago".
func exitCodeFromStatus(status string) (int, bool) {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0, false
	}
	code, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(code)
	return n, err == nil
}

func message(total int, counts map[string]int, bad []string, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d containers", total)
	sep := ": "
	for _, s := range states {
		if counts[s] > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, counts[s], s)
			sep = ", "
		}
	}
	if len(bad) > 0 {
		list := bad
		more := ""
		if len(list) > maxNamed {
			list, more = list[:maxNamed], fmt.Sprintf(" and %d more", len(bad)-maxNamed)
		}
		fmt.Fprintf(&b, "; %d unhealthy (%s%s)", len(bad), strings.Join(list, ", "), more)
	}
	if note != "" {
		b.WriteString("; ")
		b.WriteString(note)
	}
	return b.String()
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
