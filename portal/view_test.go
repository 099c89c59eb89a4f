package portal

import (
	"encoding/json"
	"flag"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// The API's probe health is the portal's own type, under the names
// docs/API.md gives (TestViewsCarryEveryField checks it carries every
// field of the scheduler's).
func TestHealthView(t *testing.T) {
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

var update = flag.Bool("update", false, "rewrite testdata/views/*.json from the current output")

// viewsAt is the one time of the view fixtures, with nanoseconds, as the
// store and the engine keep times.
var viewsAt = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// The fixtures below fill every field of the other packages' types (a
// field added there and not here fails TestViewFixturesAreFull), so the
// golden files show every field the API carries of them.
func viewFixtures() (store.Event, store.Health, sdk.Entity, store.Series, store.SeriesInfo, alerting.Status) {
	at := viewsAt
	v := 93.5
	event := store.Event{Time: at, Probe: "docker", Kind: "container", ID: "abc", Name: "web",
		From: "running", To: "exited", Health: sdk.StatusCrit, Message: "container web: state running -> exited"}
	health := store.Health{Writable: true, Error: "disk nearly full", Since: at,
		FreeBytes: 3 << 20, MinFreeBytes: 256 << 20, Dropped: 12}
	entity := sdk.Entity{Kind: "container", ID: "abc", Name: "web", State: "exited", Health: sdk.StatusCrit,
		Attrs: map[string]any{"image": "nginx:1", "restarts": float64(3)}}
	series := store.Series{Probe: "system", Name: "system.disk.used_percent",
		Labels: map[string]string{"mount": "/"}, Points: []store.Point{{T: at.UnixMilli(), V: 61.5}, {T: at.UnixMilli() + 1000, V: -0.25}}}
	info := store.SeriesInfo{Probe: "system", Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/"}}
	alerts := alerting.Status{
		EvaluatedAt: &at,
		Summary:     alerting.Summary{Firing: 1, Pending: 2, Silenced: 3, NoData: 4, Resolved: 5},
		Alerts: []alerting.Alert{{Key: `disk-full{mount="/"}`, Rule: "disk-full", State: "resolved", Severity: "critical",
			Labels: map[string]string{"alertname": "disk-full", "mount": "/"}, Annotations: map[string]string{"summary": "93.5, above 90"},
			Value: &v, ActiveAt: at, FiredAt: &at, ResolvedAt: &at,
			Sent: map[string]time.Time{"ops": at}, SilencedBy: []string{"7"}}},
		Rules: []alerting.RuleStatus{{Name: "disk-full", Kind: "series", Watches: "system.disk.used_percent > 90", Severity: "critical",
			ForSeconds: 300, State: "firing", Active: 1, Receivers: []string{"ops"}, Line: 12}},
		Silences: []alerting.Silence{{ID: "7", Matchers: map[string]string{"alertname": "disk-*"}, StartsAt: at, EndsAt: at.Add(2 * time.Hour),
			Comment: "resizing", CreatedBy: "192.0.2.7:5000"}},
		Receivers: []alerting.ReceiverStatus{{Name: "ops", Type: "webhook", Queued: 1, Sent: 2, Failed: 3, Expired: 4,
			LastError: "POST https://hooks.example/: 502", LastSuccess: &at}},
	}
	return event, health, entity, series, info, alerts
}

// full fails for each exported field of v (a struct, or a slice of them)
// left zero.
func full(t *testing.T, name string, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		if rv.Len() == 0 {
			t.Errorf("%s: empty", name)
		}
		for i := range rv.Len() {
			full(t, name, rv.Index(i).Interface())
		}
		return
	}
	for i := range rv.NumField() {
		if f := rv.Type().Field(i); f.IsExported() && rv.Field(i).IsZero() {
			t.Errorf("%s.%s is zero in the fixture: fill it, so the golden file shows it", name, f.Name)
		}
	}
}

func TestViewFixturesAreFull(t *testing.T) {
	event, health, entity, series, info, alerts := viewFixtures()
	full(t, "store.Event", event)
	full(t, "store.Health", health)
	full(t, "sdk.Entity", entity)
	full(t, "store.Series", series)
	full(t, "store.SeriesInfo", info)
	full(t, "alert.Status", alerts)
	full(t, "alert.Alert", alerts.Alerts)
	full(t, "alert.RuleStatus", alerts.Rules)
	full(t, "alert.Silence", alerts.Silences)
	full(t, "alert.ReceiverStatus", alerts.Receivers)
}

// Every field of another package's type the API shows has its field in the
// portal's view (one added there without one here fails), but for those
// the API leaves out on purpose.
func TestViewsCarryEveryField(t *testing.T) {
	for _, c := range []struct {
		from, view any
		leftOut    []string
	}{
		{scheduler.Health{}, healthView{}, nil},
		{store.Event{}, eventView{}, nil},
		{store.Health{}, storeHealthView{}, nil},
		{sdk.Entity{}, entityView{}, nil},
		{store.Series{}, seriesView{}, nil},
		{store.SeriesInfo{}, seriesInfoView{}, nil},
		{alerting.Status{}, alertsBody{}, nil},
		{alerting.Summary{}, alertSummaryView{}, nil},
		{alerting.Alert{}, alertView{}, []string{"Sent"}}, // which receivers were told is the engine's business
		{alerting.RuleStatus{}, ruleView{}, nil},
		{alerting.Silence{}, silenceView{}, nil},
		{alerting.ReceiverStatus{}, receiverView{}, nil},
	} {
		from, view := reflect.TypeOf(c.from), reflect.TypeOf(c.view)
		for i := range from.NumField() {
			f := from.Field(i)
			if !f.IsExported() || slices.Contains(c.leftOut, f.Name) {
				continue
			}
			if _, ok := view.FieldByName(f.Name); !ok {
				t.Errorf("%s.%s is not in the API's %s", from, f.Name, view.Name())
			}
		}
	}
}

// Each view's JSON is pinned byte for byte in testdata/views: the API's
// shape changes only with these files (and docs/API.md, web/openapi.json),
// never with a field or tag renamed in the store, the sdk or the alert
// engine.
func TestViewGolden(t *testing.T) {
	event, health, entity, series, info, alerts := viewFixtures()
	sys := scheduler.Health{Name: "docker", Runtime: "wasm", Source: "probes/docker.wasm", State: "failing",
		DurationMS: 12.5, LastError: "exit 1", Runs: 10, Failures: 2, Timeouts: 1, Skipped: 3, Denied: 4,
		ConsecutiveFailures: 2, IntervalMS: 15000, TimeoutMS: 5000, Dropped: map[string]uint64{"max_series": 9}, Series: 7,
		LastRun: viewsAt, LastSuccess: viewsAt.Add(-time.Minute)}
	var rep sdk.Report
	rep.Status, rep.Message = sdk.StatusCrit, "1 container unhealthy"
	rep.Gauge("docker.containers", 2, nil)
	rep.Add(entity)
	rec := store.Record{Probe: "docker", Time: viewsAt, DurationMS: 12.5, Report: rep, Error: "partial"}
	for name, v := range map[string]any{
		"event":        newEventViews([]store.Event{event}),
		"events-none":  newEventViews(nil),
		"store":        newStoreHealthView(health),
		"entity":       newEntityView(entity),
		"entity-bare":  newEntityView(sdk.Entity{Kind: "unit", ID: "a.service"}),
		"probe-entity": probeEntityView{Probe: "docker", entityView: newEntityView(entity)},
		"series":       newSeriesView(series),
		"series-empty": newSeriesView(store.Series{Probe: "system", Name: "x"}),
		"series-info":  newSeriesInfoViews([]store.SeriesInfo{info, {Name: "y"}}),
		"alerts":       newAlertsBody(alerts),
		"alerts-none":  newAlertsBody(alerting.Status{}),
		"silence":      newSilenceView(alerts.Silences[0]),
		"health":       newHealthView(sys),
		"report":       newReportView(&rec),
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sdktest.Golden(t, filepath.Join("testdata", "views", name+".json"), append(b, '\n'), *update)
	}
}

// apiBodies are the values the portal's routes encode as JSON.
var apiBodies = []any{
	statusBody{}, probesBody{}, probeView{}, barbossaBody{}, networkBody{}, projectsBody{},
	queryBody{}, seriesBody{}, eventsBody{}, alertsBody{}, silenceView{}, silenceDeleted{},
	actionResponse{}, sessionBody{}, errorJSON{},
}

// No response encodes a struct of another package (time.Time aside), nor
// anything of another package with its own MarshalJSON: what the API
// shows is declared here. Types of another package whose JSON is a plain
// string (sdk.Status) may appear.
func TestAPIBodiesArePortalTypes(t *testing.T) {
	for _, b := range apiBodies {
		for _, bad := range foreignTypes(reflect.TypeOf(b)) {
			t.Errorf("the API encodes another package's type: %s", bad)
		}
	}
	type leaky struct {
		Probes   []probeView
		Entities []sdk.Entity
		Store    *store.Health
		Points   map[string][]store.Point
		OK       sdk.Status
	}
	got := foreignTypes(reflect.TypeOf(leaky{}))
	want := []string{"leaky.Entities[]: sdk.Entity", "leaky.Store[]: store.Health", "leaky.Points{}[]: store.Point"}
	if !slices.Equal(got, want) {
		t.Errorf("the check itself: found %q in a type leaking three, want %q", got, want)
	}
}

// foreignTypes lists the places in typ's JSON where another package's
// struct, or JSON of its own making, would be encoded.
func foreignTypes(typ reflect.Type) []string {
	self := reflect.TypeOf(statusBody{}).PkgPath()
	marshaler := reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string) []string
	walk = func(typ reflect.Type, path string) []string {
		if seen[typ] || typ == reflect.TypeOf(time.Time{}) {
			return nil
		}
		seen[typ] = true
		ownJSON := typ.Implements(marshaler) || reflect.PointerTo(typ).Implements(marshaler)
		switch pkg := typ.PkgPath(); {
		case pkg != "" && pkg != self && (typ.Kind() == reflect.Struct || ownJSON):
			return []string{path + ": " + typ.String()}
		case ownJSON:
			return nil // the portal's own encoding (pointsView)
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			return walk(typ.Elem(), path+"[]")
		case reflect.Map:
			return append(walk(typ.Key(), path+"{key}"), walk(typ.Elem(), path+"{}")...)
		case reflect.Struct:
			var bad []string
			for i := range typ.NumField() {
				if f := typ.Field(i); (f.IsExported() || f.Anonymous) && f.Tag.Get("json") != "-" {
					bad = append(bad, walk(f.Type, path+"."+f.Name)...)
				}
			}
			return bad
		}
		return nil
	}
	return walk(typ, typ.Name())
}

func TestPointsJSON(t *testing.T) {
	b, err := json.Marshal(pointsView{{T: 1700000000000, V: 1.5}, {T: 1, V: -2}, {T: 0, V: 1e21}})
	if err != nil || string(b) != "[[1700000000000,1.5],[1,-2],[0,1e+21]]" {
		t.Errorf("got %s, %v", b, err)
	}
	if b, _ := json.Marshal(pointsView(nil)); string(b) != "[]" {
		t.Errorf("no points: %s, want []", b)
	}
	if _, err := json.Marshal(pointsView{{V: math.NaN()}}); err == nil {
		t.Error("NaN encoded: JSON has no NaN")
	}
}
