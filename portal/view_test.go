package portal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/scheduler"
)

// The API's probe health is the portal's own type: every field of the
// scheduler's Health is carried (a field added there without one here
// fails), under the names docs/API.md gives.
func TestHealthView(t *testing.T) {
	view := reflect.TypeOf(healthView{})
	sched := reflect.TypeOf(scheduler.Health{})
	for i := range sched.NumField() {
		if _, ok := view.FieldByName(sched.Field(i).Name); !ok {
			t.Errorf("scheduler.Health.%s is not in the API's healthView", sched.Field(i).Name)
		}
	}

	h := scheduler.Health{Name: "wasm", Runtime: "wasm", Source: "x.wasm", State: "ok", LastRun: t0, Denied: 7,
		Dropped: map[string]uint64{"metrics": 2}, Series: 3, IntervalMS: 1000}
	b, err := json.Marshal(newHealthView(h))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := []string{"name", "runtime", "source", "state", "last_run", "last_success", "next_run",
		"duration_ms", "last_error", "runs", "failures", "timeouts", "skipped", "denied",
		"consecutive_failures", "interval_ms", "timeout_ms", "dropped", "series"}
	for _, k := range keys {
		if _, found := m[k]; !found {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("JSON has %d keys; want %d: %s", len(m), len(keys), b)
	}
	if m["last_run"] != t0.Format(time.RFC3339Nano) || m["next_run"] != nil || m["denied"] != 7.0 || m["series"] != 3.0 {
		t.Errorf("values: %s", b)
	}
	if b, _ := json.Marshal(newHealthView(scheduler.Health{})); !json.Valid(b) || !strings.Contains(string(b), `"dropped":{}`) {
		t.Errorf("no drops: %s", b)
	}
}
