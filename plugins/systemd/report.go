package systemd

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// activeStates are always counted in systemd.units, so a dashboard or an
// alert sees failed=0 rather than no series at all.
var activeStates = []string{"active", "reloading", "inactive", "failed", "activating", "deactivating"}

// maxNamed is how many failed units the report's message names.
const maxNamed = 5

// buildReport turns the units the filters kept, and the details read for
// some services, into a report. It is pure: golden-tested on testdata.
func buildReport(units []Unit, details map[string]*Details, detailNote string) sdk.Report {
	units = append([]Unit(nil), units...)
	sort.Slice(units, func(i, j int) bool { return units[i].Name < units[j].Name })

	r := sdk.Report{Status: sdk.StatusOK, Metrics: []sdk.Metric{}, Entities: []sdk.Entity{}}
	counts := map[string]int{}
	var failed, warned []string
	var perUnit []sdk.Metric
	for _, u := range units {
		counts[u.ActiveState]++
		e := entity(u, details[u.Name])
		r.Add(e)
		r.Worst(e.Health)
		switch e.Health {
		case sdk.StatusCrit:
			failed = append(failed, u.Name)
		case sdk.StatusWarn:
			warned = append(warned, u.Name)
		}
		perUnit = append(perUnit, unitMetrics(u.Name, details[u.Name])...)
	}

	states := append([]string(nil), activeStates...)
	var extra []string
	for s := range counts {
		if !contains(states, s) {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	for _, s := range append(states, extra...) {
		r.Gauge("systemd.units", float64(counts[s]), map[string]string{"state": s})
	}
	r.Metrics = append(r.Metrics, perUnit...)
	r.Message = message(len(units), counts, failed, warned, detailNote)
	return r
}

// entity is a unit as an entity: its state is the active state; a failed
// unit is crit, a unit systemd could not load or a service waiting to be
// restarted after a crash is warn.
func entity(u Unit, d *Details) sdk.Entity {
	e := sdk.Entity{
		Kind:   "unit",
		ID:     u.Name,
		Name:   u.Name,
		State:  u.ActiveState,
		Health: sdk.StatusOK,
		Attrs: map[string]any{
			"type":        u.Type(),
			"description": u.Description,
			"load_state":  u.LoadState,
			"sub_state":   u.SubState,
		},
	}
	switch {
	case u.ActiveState == "failed":
		e.Health = sdk.StatusCrit
	case u.LoadState == "error" || u.LoadState == "bad-setting":
		e.Health = sdk.StatusWarn
	case u.SubState == "auto-restart":
		e.Health = sdk.StatusWarn
	}
	if u.JobType != "" {
		e.Attrs["job"] = u.JobType
	}
	if d == nil {
		return e
	}
	if d.SinceMicros != nil {
		e.Attrs["since"] = time.UnixMicro(int64(*d.SinceMicros)).UTC().Format(time.RFC3339)
	}
	if d.MainPID != nil {
		e.Attrs["main_pid"] = *d.MainPID
	}
	if d.MemoryBytes != nil {
		e.Attrs["memory_bytes"] = *d.MemoryBytes
	}
	if d.CPUNanos != nil {
		e.Attrs["cpu_seconds"] = float64(*d.CPUNanos) / 1e9
	}
	if d.Tasks != nil {
		e.Attrs["tasks"] = *d.Tasks
	}
	if d.Restarts != nil {
		e.Attrs["restarts"] = *d.Restarts
	}
	if d.Result != "" {
		e.Attrs["result"] = d.Result
	}
	if d.ExitStatus != nil {
		e.Attrs["exit_status"] = *d.ExitStatus
	}
	return e
}

// unitMetrics are a service's numbers worth a history: only what is known.
func unitMetrics(name string, d *Details) []sdk.Metric {
	if d == nil {
		return nil
	}
	var out []sdk.Metric
	add := func(metric string, v *uint64, scale float64) {
		if v != nil {
			out = append(out, sdk.Metric{Name: metric, Labels: map[string]string{"unit": name}, Value: float64(*v) / scale})
		}
	}
	add("systemd.unit.memory_bytes", d.MemoryBytes, 1)
	add("systemd.unit.cpu_seconds_total", d.CPUNanos, 1e9)
	add("systemd.unit.tasks", d.Tasks, 1)
	add("systemd.unit.restarts", d.Restarts, 1)
	return out
}

func message(total int, counts map[string]int, failed, warned []string, note string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d units: %d active, %d failed", total, counts["active"], counts["failed"])
	if len(failed) > 0 {
		fmt.Fprintf(&b, " (%s)", names(failed))
	}
	if len(warned) > 0 {
		fmt.Fprintf(&b, ", %d warn (%s)", len(warned), names(warned))
	}
	if note != "" {
		b.WriteString("; ")
		b.WriteString(note)
	}
	return b.String()
}

func names(list []string) string {
	if len(list) <= maxNamed {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(list)-maxNamed)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
