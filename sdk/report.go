// Package sdk is what a probe author imports: the probe contract, the report
// types and the host calls a probe may make. It never imports the agent's
// runtime (badger, wazero, mux), so a probe builds to WASM or to a native
// plugin from the same source.
//
//	type probe struct{}
//
//	func (probe) Info() sdk.Info { return sdk.Info{Name: "hello", Version: "1.0.0"} }
//
//	func (probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
//		var r sdk.Report
//		r.Gauge("hello.answer", 42, nil)
//		return r, nil
//	}
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Status is the overall verdict of one probe run.
type Status string

// Health is the condition of one entity. It uses the same words as Status.
type Health = Status

const (
	StatusOK      Status = "ok"
	StatusWarn    Status = "warn"
	StatusCrit    Status = "crit"
	StatusUnknown Status = "unknown"
)

// Valid reports whether s is one of the four known values.
func (s Status) Valid() bool {
	switch s {
	case StatusOK, StatusWarn, StatusCrit, StatusUnknown:
		return true
	}
	return false
}

// Rank orders statuses from best to worst, so the worst of several can be taken.
func (s Status) Rank() int {
	switch s {
	case StatusOK:
		return 0
	case StatusWarn:
		return 1
	case StatusUnknown:
		return 2
	case StatusCrit:
		return 3
	}
	return 2
}

// Metric is one sample. Name is "<probe>.<thing>" with a unit suffix where
// one applies (system.memory.used_bytes); the host stamps the time.
type Metric struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Entity is a thing with a state: a unit, a container, a session. Its JSON
// is the probe wire format (internal/abi); the portal's API has its own.
type Entity struct {
	Kind   string         `json:"kind"`
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	State  string         `json:"state"`
	Health Health         `json:"health"`
	Attrs  map[string]any `json:"attrs,omitempty"`
}

// Report is what one probe run returns. An unhealthy target is a Health or a
// Status, not an error: an error means the probe could not run at all.
type Report struct {
	Status   Status   `json:"status"`
	Message  string   `json:"message,omitempty"`
	Metrics  []Metric `json:"metrics"`
	Entities []Entity `json:"entities"`
}

// NotPresentPrefix starts the message of a report whose probe found that
// what it watches is not on this host at all (no Docker installed, no
// systemd): see NotPresent.
const NotPresentPrefix = "not present: "

// NotPresent is the report of a probe whose subject is absent from this
// host, as opposed to present and broken: status ok, no metrics or
// entities, and a message starting with NotPresentPrefix saying what was
// looked for. The portal shows it calmly as "not present", and it never
// outranks a real warning in the overall status. A subject that is there
// but failing (a socket nobody listens on, a permission refused) is not
// absent: report that as unknown or worse.
func NotPresent(what string) Report {
	return Report{Status: StatusOK, Message: NotPresentPrefix + what, Metrics: []Metric{}, Entities: []Entity{}}
}

// Gauge appends a metric to the report.
func (r *Report) Gauge(name string, value float64, labels map[string]string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Labels: labels, Value: value})
}

// Add appends an entity to the report.
func (r *Report) Add(e Entity) { r.Entities = append(r.Entities, e) }

// Worst raises r.Status to s when s is worse than the current status.
func (r *Report) Worst(s Status) {
	if r.Status == "" || s.Rank() > r.Status.Rank() {
		r.Status = s
	}
}

// Validate checks the values of a report and fills in defaults: status
// ok, entity health unknown, empty (not nil) metrics and entities. The host
// calls it on every report a WASM guest or a plugin returns; the error
// names the offending field.
func (r *Report) Validate() error {
	if r.Status == "" {
		r.Status = StatusOK
	}
	if !r.Status.Valid() {
		return fmt.Errorf("status %q is not one of ok, warn, crit, unknown", r.Status)
	}
	if r.Metrics == nil {
		r.Metrics = []Metric{}
	}
	if r.Entities == nil {
		r.Entities = []Entity{}
	}
	for i, m := range r.Metrics {
		if m.Name == "" {
			return fmt.Errorf("metrics[%d]: empty name", i)
		}
	}
	for i := range r.Entities {
		e := &r.Entities[i]
		if e.Kind == "" || e.ID == "" {
			return fmt.Errorf("entities[%d]: kind and id are required", i)
		}
		if e.Health == "" {
			e.Health = StatusUnknown
		}
		if !e.Health.Valid() {
			return fmt.Errorf("entities[%d] (%s %s): health %q is not one of ok, warn, crit, unknown", i, e.Kind, e.ID, e.Health)
		}
	}
	return nil
}

// Info describes a probe.
type Info struct {
	Name        string `json:"name"`
	Version     string `json:"version,omitempty"`
	Description string `json:"description,omitempty"`
	// Stateful asks the host to keep the probe's instance between runs,
	// because the probe computes rates from the previous run's counters.
	// Without it a WASM probe may get a fresh instance every run.
	Stateful bool `json:"stateful,omitempty"`
}

// Request is what the host passes to one collect: the probe instance's name
// and its [probe.config] table.
type Request struct {
	Probe  string         `json:"probe"`
	Config map[string]any `json:"config,omitempty"`
}

// Decode copies the probe's config table into v (a pointer to a struct with
// json tags), so a probe reads typed settings rather than a map. Keys v has
// no field for are ignored; DecodeStrict rejects them.
func (r Request) Decode(v any) error { return r.decode(v, false) }

// DecodeStrict is Decode that rejects a key v has no field for, with an
// error naming it (json: unknown field "sock"), so a misspelt key is an
// error rather than a setting silently left at its default.
func (r Request) DecodeStrict(v any) error { return r.decode(v, true) }

func (r Request) decode(v any, strict bool) error {
	if len(r.Config) == 0 {
		return nil
	}
	b, err := json.Marshal(r.Config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if strict {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	} else {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("config of probe %q: %w", r.Probe, err)
	}
	return nil
}

// Probe is the contract every probe meets, whatever runtime it is run in.
type Probe interface {
	Info() Info
	Collect(ctx context.Context, req Request) (Report, error)
}
