package systemd

import (
	"fmt"
	"math"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Unit is one entry of Manager.ListUnits: the signature a(ssssssouso).
type Unit struct {
	Name        string
	Description string
	LoadState   string // loaded, not-found, bad-setting, error, masked
	ActiveState string // active, reloading, inactive, failed, activating, deactivating, maintenance, refreshing
	SubState    string // running, exited, dead, failed, auto-restart, ... (type specific)
	Following   string
	Path        string // the unit's object path
	JobID       uint32
	JobType     string // start, stop, ... when a job is queued
	JobPath     string
}

// Type is the unit's type: the suffix of its name ("service").
func (u Unit) Type() string {
	if i := strings.LastIndexByte(u.Name, '.'); i >= 0 {
		return u.Name[i+1:]
	}
	return ""
}

// parseListUnits reads the reply body of Manager.ListUnits as the dbus host
// function returns it: [[[name, description, load, active, sub, following,
// path, job id, job type, job path], ...]].
func parseListUnits(body sdk.JSON) ([]Unit, error) {
	if body.Len() != 1 || body.Kind() != sdk.KindArray {
		return nil, fmt.Errorf("ListUnits reply: want 1 value, got %d", body.Len())
	}
	rows := body.Array()[0]
	if rows.Kind() != sdk.KindArray {
		return nil, fmt.Errorf("ListUnits reply: want an array of units, got a JSON %s", kindName(rows.Kind()))
	}
	units := make([]Unit, 0, rows.Len())
	for i, r := range rows.Array() {
		f := r.Array()
		if len(f) != 10 {
			return nil, fmt.Errorf("ListUnits reply: unit %d: want 10 fields, got %d", i, len(f))
		}
		var u Unit
		strs := [...]*string{&u.Name, &u.Description, &u.LoadState, &u.ActiveState, &u.SubState, &u.Following, &u.Path}
		for j, p := range strs {
			if f[j].Kind() != sdk.KindString {
				return nil, fmt.Errorf("ListUnits reply: unit %d: field %d: want a string, got a JSON %s", i, j, kindName(f[j].Kind()))
			}
			*p = f[j].Str()
		}
		u.JobID = uint32(f[7].Uint())
		u.JobType = f[8].Str()
		u.JobPath = f[9].Str()
		if u.Name == "" {
			return nil, fmt.Errorf("ListUnits reply: unit %d has no name", i)
		}
		units = append(units, u)
	}
	return units, nil
}

func kindName(k sdk.Kind) string {
	switch k {
	case sdk.KindMissing:
		return "nothing"
	case sdk.KindNull:
		return "null"
	case sdk.KindBool:
		return "boolean"
	case sdk.KindNumber:
		return "number"
	case sdk.KindString:
		return "string"
	case sdk.KindArray:
		return "array"
	}
	return "object"
}

// property is one D-Bus property a service's details are read from.
type property struct {
	iface, name string
}

const (
	ifaceUnit    = "org.freedesktop.systemd1.Unit"
	ifaceService = "org.freedesktop.systemd1.Service"
)

var (
	propMainPID     = property{ifaceService, "MainPID"}
	propRestarts    = property{ifaceService, "NRestarts"}
	propMemory      = property{ifaceService, "MemoryCurrent"}
	propCPU         = property{ifaceService, "CPUUsageNSec"}
	propTasks       = property{ifaceService, "TasksCurrent"}
	propResult      = property{ifaceService, "Result"}
	propExitStatus  = property{ifaceService, "ExecMainStatus"}
	propStateChange = property{ifaceUnit, "StateChangeTimestamp"}
)

// propertiesFor lists what is worth reading for a service in its state
// (each is one D-Bus round trip through PID 1): a running service has a
// PID, memory, CPU and tasks; a failed one a result and an exit status; a
// oneshot that has exited only the time it did; any other restarts and the
// time of its last state change.
func propertiesFor(u Unit) []property {
	switch {
	case u.ActiveState == "failed":
		return []property{propRestarts, propStateChange, propResult, propExitStatus}
	case u.ActiveState == "active" && u.SubState == "exited":
		return []property{propStateChange}
	case u.ActiveState == "inactive":
		return []property{propRestarts, propStateChange}
	}
	return []property{propMainPID, propRestarts, propMemory, propCPU, propTasks, propStateChange}
}

// Details are what the properties of one service said. A nil field is not
// known: not read, not set, or not supported where the agent runs.
type Details struct {
	MainPID      *uint64
	Restarts     *uint64
	MemoryBytes  *uint64
	CPUNanos     *uint64
	Tasks        *uint64
	SinceMicros  *uint64 // StateChangeTimestamp, µs since the epoch
	Result       string
	ExitStatus   *int64
	Unreadable   int // properties whose read failed
	DeniedReads  int // of which refused by the probe's grants
	TimedOutRead int // of which cut by the deadline
}

// unset is systemd's "no value" for unsigned counters: 2^64-1 (a service
// without a cgroup controller, or systemd in a container with read-only
// v1 controllers). JSON numbers arrive as float64, where 2^64-1 becomes
// 2^64, so anything at or above 2^63 is taken as unset.
const unset = float64(1 << 63)

// setProperty records value (a JSON value from the dbus reply) under p.
func (d *Details) setProperty(p property, value sdk.JSON) {
	u64 := func() *uint64 {
		f := value.Float()
		if value.Kind() != sdk.KindNumber || f < 0 || f >= unset || f != math.Trunc(f) {
			return nil
		}
		v := value.Uint()
		return &v
	}
	switch p {
	case propMainPID:
		if v := u64(); v != nil && *v > 0 {
			d.MainPID = v
		}
	case propRestarts:
		d.Restarts = u64()
	case propMemory:
		d.MemoryBytes = u64()
	case propCPU:
		d.CPUNanos = u64()
	case propTasks:
		d.Tasks = u64()
	case propStateChange:
		if v := u64(); v != nil && *v > 0 {
			d.SinceMicros = v
		}
	case propResult:
		d.Result = value.Str()
	case propExitStatus:
		if value.Kind() == sdk.KindNumber {
			v := value.Int()
			d.ExitStatus = &v
		}
	}
}

// propertyValue reads the one value of a Properties.Get reply body.
func propertyValue(body sdk.JSON) (sdk.JSON, error) {
	if body.Len() != 1 || body.Kind() != sdk.KindArray {
		return sdk.JSON{}, fmt.Errorf("Properties.Get reply: want 1 value, got %d", body.Len())
	}
	return body.Array()[0], nil
}
