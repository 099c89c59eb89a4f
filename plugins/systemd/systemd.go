// Package systemd is the systemd probe: the units systemd has loaded, with
// their load, active and sub state, and for services their main PID,
// memory, CPU, tasks, restarts and the time of their last state change,
// read over D-Bus (org.freedesktop.systemd1) through the dbus host
// function. It is built to WASM (plugins/systemd/cmd) and runs sandboxed
// with the narrowest grants:
//
//	[probe.allow]
//	dbus = ["org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits",
//	        "org.freedesktop.systemd1 org.freedesktop.DBus.Properties.Get"]
//
// One run is one ListUnits call and one batch of property reads for the
// services worth detailing (not inactive, by default), which the host runs
// concurrently. Reading (Collect) is kept apart from turning replies into a
// report (parse.go, report.go), which is pure and golden-tested.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Version is the probe's version, reported by Info.
const Version = "1.0.0"

const (
	destination = "org.freedesktop.systemd1"
	managerPath = "/org/freedesktop/systemd1"
	ifaceMgr    = "org.freedesktop.systemd1.Manager"
	ifaceProps  = "org.freedesktop.DBus.Properties"

	// maxBatch is the host's limit of requests in one batch.
	maxBatch = 256
)

// Probe reports systemd units. It keeps no state between runs.
type Probe struct{}

var _ sdk.Probe = (*Probe)(nil)

// New returns a systemd probe.
func New() *Probe { return &Probe{} }

// Info names the probe "systemd".
func (*Probe) Info() sdk.Info {
	return sdk.Info{Name: "systemd", Version: Version, Description: "systemd units over D-Bus: state, failures, services' PID, memory, restarts"}
}

// Collect lists the units once. It returns an error for a bad config, a
// call the grants refuse, or the run's deadline; systemd not being
// reachable is a report with status unknown, and no systemd at all (no bus,
// or none on it) a report that it is not present (sdk.NotPresent).
func (p *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	cfg, err := decodeConfig(req)
	if err != nil {
		return sdk.Report{}, err
	}
	resp, err := sdk.DBus(ctx, sdk.DBusRequest{
		Bus: cfg.Bus, Destination: destination, Path: managerPath,
		Interface: ifaceMgr, Member: "ListUnits",
	})
	switch {
	case errors.Is(err, sdk.ErrDenied):
		return sdk.Report{}, fmt.Errorf("list units: %w (grant %q)", err, grantFor(cfg.Bus, ifaceMgr+".ListUnits"))
	case errors.Is(err, sdk.ErrTimeout) || ctx.Err() != nil:
		return sdk.Report{}, fmt.Errorf("list units: %w", err)
	case err != nil:
		return unreachable(cfg.Bus, err), nil
	}
	all, err := parseListUnits(resp.JSON())
	if err != nil {
		return sdk.Report{}, err
	}
	var units, detailed []Unit
	for _, u := range all {
		if cfg.keeps(u) {
			units = append(units, u)
			if cfg.wantsDetails(u) {
				detailed = append(detailed, u)
			}
		}
	}
	details, note := readDetails(ctx, cfg.Bus, detailed)
	return buildReport(units, details, note), nil
}

// unreachable is the report when systemd cannot be asked: no bus, no
// systemd on it, or no permission. It is not an error: the agent's health
// shows the probe running, the report says what is wrong.
func unreachable(bus string, err error) sdk.Report {
	why := err.Error()
	var he *sdk.HostError
	if errors.As(err, &he) {
		why = strings.TrimPrefix(he.Message, "dbus: ")
	}
	if absent(why) {
		return sdk.NotPresent(fmt.Sprintf("no systemd on the %s bus (%s)", busName(bus), why))
	}
	return sdk.Report{
		Status:   sdk.StatusUnknown,
		Message:  fmt.Sprintf("systemd is not reachable on the %s bus: %s", busName(bus), why),
		Metrics:  []sdk.Metric{},
		Entities: []sdk.Entity{},
	}
}

// absent says whether a failed call means there is no systemd here at
// all: no bus socket, or a bus on which no systemd answers. A permission
// refused or a broken bus is not absence.
func absent(why string) bool {
	return strings.Contains(why, "no such file or directory") ||
		strings.Contains(why, "org.freedesktop.DBus.Error.ServiceUnknown")
}

func busName(bus string) string {
	if bus == "system" || bus == "session" {
		return bus
	}
	return "D-Bus at " + bus
}

// grantFor is the grant a call needs, for error messages.
func grantFor(bus, method string) string {
	g := destination + " " + method
	if bus != "system" {
		g = bus + " " + g
	}
	return g
}

// readDetails reads the properties of the given services in batches the
// host runs concurrently, leaving a quarter of the time left (at most 1 s)
// for the report. note tells what could not be read.
func readDetails(ctx context.Context, bus string, units []Unit) (map[string]*Details, string) {
	details := make(map[string]*Details, len(units))
	if len(units) == 0 {
		return details, ""
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left-min(left/4, time.Second))
		defer cancel()
	}
	type slot struct {
		unit string
		prop property
	}
	var reqs []sdk.DBusRequest
	var slots []slot
	for _, u := range units {
		details[u.Name] = &Details{}
		for _, p := range propertiesFor(u) {
			reqs = append(reqs, sdk.DBusRequest{
				Bus: bus, Destination: destination, Path: u.Path,
				Interface: ifaceProps, Member: "Get", Signature: "ss", Args: []any{p.iface, p.name},
			})
			slots = append(slots, slot{u.Name, p})
		}
	}
	// One read alone first: without the Properties.Get grant every read of
	// a batch would be refused, and each refusal is a warning in the
	// agent's log. One warning a run says it well enough.
	if _, err := sdk.DBus(ctx, reqs[0]); errors.Is(err, sdk.ErrDenied) {
		return details, fmt.Sprintf("property reads denied (grant %q)", grantFor(bus, ifaceProps+".Get"))
	}
	var denied, timedOut, failed int
	var firstErr error
	for start := 0; start < len(reqs); start += maxBatch {
		end := min(start+maxBatch, len(reqs))
		resps, errs := sdk.DBusBatch(ctx, reqs[start:end])
		for i := range resps {
			s := slots[start+i]
			d := details[s.unit]
			err := errs[i]
			var v sdk.JSON
			if err == nil {
				v, err = propertyValue(resps[i].JSON())
			}
			if err != nil {
				d.Unreadable++
				switch {
				case errors.Is(err, sdk.ErrDenied):
					denied++
				case errors.Is(err, sdk.ErrTimeout):
					timedOut++
				default:
					failed++ // a unit that went away between the two calls
					if firstErr == nil {
						firstErr = err
					}
				}
				continue
			}
			d.setProperty(s.prop, v)
		}
	}
	var note string
	switch {
	case denied > 0:
		note = fmt.Sprintf("%d property reads denied (grant %q)", denied, grantFor(bus, ifaceProps+".Get"))
	case timedOut > 0:
		note = fmt.Sprintf("%d property reads cut by the deadline", timedOut)
	case failed > 0:
		sdk.Log(sdk.LevelDebug, "property reads failed", "count", failed, "first", firstErr)
	}
	return details, note
}
