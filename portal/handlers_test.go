package portal

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func newTestServer(t testing.TB, f *fakeSource, token string) http.Handler {
	t.Helper()
	return New(Config{Token: token}, f, nil).Handler()
}

// localRequest is httptest.NewRequest as a browser on this machine sends
// it: to localhost (httptest's example.com is refused with no token set).
func localRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Host = "localhost"
	return req
}

func get(t testing.TB, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := localRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content-type %q, want application/json; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
}

func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body %s", rec.Code, code, rec.Body)
	}
}

func TestStatus(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	rec := get(t, h, "/api/v1/status")
	wantStatus(t, rec, http.StatusOK)

	var raw map[string]json.RawMessage
	decode(t, rec, &raw)
	for _, k := range []string{"status", "version", "generated_at", "host", "summary", "probes", "entities", "alerts", "events"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status body lacks %q", k)
		}
	}

	var body struct {
		Status   string
		Host     Host
		Probes   []map[string]any
		Entities []struct {
			Probe, Kind, ID, Name, State, Health string
		}
		Alerts  []alert
		Events  []struct{ Message string }
		Summary summary
	}
	decode(t, rec, &body)
	if body.Status != "crit" {
		t.Errorf("overall status %q, want crit (a crit container)", body.Status)
	}
	if body.Host.Hostname != "testhost" || body.Host.CPUs != 2 {
		t.Errorf("host %+v", body.Host)
	}
	if len(body.Probes) != 4 {
		t.Fatalf("%d probes, want 4", len(body.Probes))
	}
	for _, p := range body.Probes {
		for _, k := range []string{"name", "runtime", "state", "last_run", "duration_ms", "last_error", "report", "report_state"} {
			if _, ok := p[k]; !ok {
				t.Errorf("probe %v lacks %q", p["name"], k)
			}
		}
		if rep, ok := p["report"].(map[string]any); ok {
			if _, has := rep["entities"]; has {
				t.Errorf("probe %v: status repeats entities inside report", p["name"])
			}
			if _, has := rep["metrics"]; !has {
				t.Errorf("probe %v: report lacks metrics", p["name"])
			}
		}
	}
	if len(body.Entities) != 5 {
		t.Errorf("%d entities, want 5 (3 system, 2 docker)", len(body.Entities))
	}
	var sawDB bool
	for _, e := range body.Entities {
		if e.Name == "db" {
			sawDB = e.Probe == "docker" && e.Health == "crit" && e.State == "exited"
		}
	}
	if !sawDB {
		t.Errorf("entity db missing or wrong: %+v", body.Entities)
	}
	if len(body.Events) != statusEvents {
		t.Errorf("%d events, want %d", len(body.Events), statusEvents)
	}
	// Alerts: the crit container and docker's crit report first, then
	// the failing tmux probe; pending "fresh" is not an alert.
	kinds := map[string]string{}
	for _, a := range body.Alerts {
		kinds[a.Kind+":"+a.Probe] = a.Severity
	}
	want := map[string]string{"entity:docker": "crit", "report:docker": "crit", "probe:tmux": "warn"}
	if len(kinds) != len(want) {
		t.Errorf("alerts %+v, want %v", body.Alerts, want)
	}
	for k, v := range want {
		if kinds[k] != v {
			t.Errorf("alert %s: severity %q, want %q", k, kinds[k], v)
		}
	}
	if body.Alerts[len(body.Alerts)-1].Severity != "warn" {
		t.Errorf("alerts not sorted worst first: %+v", body.Alerts)
	}
	if body.Summary.Probes != 4 || body.Summary.ProbesByState["ok"] != 2 || body.Summary.EntitiesByHealth["crit"] != 1 {
		t.Errorf("summary %+v", body.Summary)
	}
}

func TestOverallStatusWarnOnFailingProbeOnly(t *testing.T) {
	f := newFake()
	delete(f.latest, "docker")
	rec := get(t, newTestServer(t, f, ""), "/api/v1/status")
	var body struct{ Status string }
	decode(t, rec, &body)
	if body.Status != "warn" {
		t.Errorf("status %q, want warn (tmux failing, nothing crit)", body.Status)
	}
}

// TestNotPresentIsCalm: a host without Docker is not "unknown" overall; the
// real warning (tmux failing) is what the status says.
func TestNotPresentIsCalm(t *testing.T) {
	f := newFake()
	rec := f.latest["docker"]
	rec.Report = sdk.NotPresent("no Docker on this host (no socket at /var/run/docker.sock)")
	f.latest["docker"] = rec
	var body struct {
		Status string
		Probes []struct {
			Name   string
			Report *struct {
				Status     string
				NotPresent bool `json:"not_present"`
			}
		}
		Alerts []struct{ Probe string }
	}
	decode(t, get(t, newTestServer(t, f, ""), "/api/v1/status"), &body)
	if body.Status != "warn" {
		t.Errorf("status %q, want warn: an absent Docker must not outrank tmux failing", body.Status)
	}
	for _, p := range body.Probes {
		if p.Name == "docker" && (p.Report == nil || !p.Report.NotPresent || p.Report.Status != "ok") {
			t.Errorf("docker report %+v, want ok and not_present", p.Report)
		}
		if p.Name == "system" && p.Report.NotPresent {
			t.Error("system report marked not_present")
		}
	}
	for _, a := range body.Alerts {
		if a.Probe == "docker" {
			t.Errorf("alert for an absent Docker: %+v", a)
		}
	}
}

func TestLegacyPathsServeSameBodies(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for _, p := range [][2]string{
		{"/api/v1/status", "/api/comprehensive-status"},
		{"/api/v1/network", "/api/network-status"},
	} {
		a, b := get(t, h, p[0]), get(t, h, p[1])
		wantStatus(t, a, 200)
		wantStatus(t, b, 200)
		if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Errorf("%s and %s differ", p[0], p[1])
		}
	}
}

func TestBarbossaStatus(t *testing.T) {
	rec := get(t, newTestServer(t, newFake(), ""), "/api/barbossa-status")
	wantStatus(t, rec, 200)
	var body struct {
		Status string
		Agent  agentInfo
		Probes []map[string]any
	}
	decode(t, rec, &body)
	if body.Agent.Name != "barbossa" || body.Agent.Version != "0.1.0-test" || body.Agent.PID == 0 || body.Agent.UptimeSeconds < 600 {
		t.Errorf("agent %+v", body.Agent)
	}
	if len(body.Probes) != 4 || body.Probes[3]["last_error"] != "tmux: exit status 1" {
		t.Errorf("probes %v", body.Probes)
	}
	if body.Status != "crit" {
		t.Errorf("status %q", body.Status)
	}
}

func TestProbes(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	rec := get(t, h, "/api/v1/probes")
	wantStatus(t, rec, 200)
	var list struct{ Probes []probeView }
	decode(t, rec, &list)
	if len(list.Probes) != 4 {
		t.Fatalf("%d probes", len(list.Probes))
	}
	if list.Probes[0].Name != "docker" || list.Probes[0].Report == nil || len(list.Probes[0].Report.Entities) != 2 {
		t.Errorf("docker: %+v", list.Probes[0])
	}
}

func TestProbe(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	tests := []struct {
		name, state, reportState string
		hasReport                bool
	}{
		{"system", "ok", reportFresh, true},
		{"tmux", "failing", reportStale, false},
		{"fresh", "pending", reportNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, "/api/v1/probes/"+tt.name)
			wantStatus(t, rec, 200)
			var raw map[string]json.RawMessage
			decode(t, rec, &raw)
			if !tt.hasReport && string(raw["report"]) != "null" {
				t.Errorf("report %s, want null", raw["report"])
			}
			if tt.name == "fresh" && (string(raw["last_run"]) != "null" || string(raw["next_run"]) != "null") {
				t.Errorf("unset times should be null: last_run %s next_run %s", raw["last_run"], raw["next_run"])
			}
			if tt.name == "system" && !strings.HasPrefix(string(raw["last_run"]), `"20`) {
				t.Errorf("last_run %s", raw["last_run"])
			}
			var p probeView
			decode(t, rec, &p)
			if p.Name != tt.name || p.State != tt.state || p.ReportState != tt.reportState {
				t.Errorf("got name %q state %q report_state %q", p.Name, p.State, p.ReportState)
			}
			if tt.hasReport != (p.Report != nil) {
				t.Fatalf("report present = %v", p.Report != nil)
			}
		})
	}

	rec := get(t, h, "/api/v1/probes/system")
	var p struct {
		Report struct {
			Status  string
			Metrics []struct {
				Name   string
				Labels map[string]string
				Value  float64
			}
			Entities []map[string]any
		}
	}
	decode(t, rec, &p)
	if p.Report.Status != "ok" || len(p.Report.Metrics) != 13 || len(p.Report.Entities) != 3 {
		t.Fatalf("report %+v", p.Report)
	}
	m := p.Report.Metrics[0]
	if m.Name != "system.cpu.percent" || m.Labels == nil || m.Value != 12.5 {
		t.Errorf("first metric %+v: want labels {} not null", m)
	}
	if !strings.Contains(rec.Body.String(), `"labels":{}`) {
		t.Errorf("metric without labels should carry \"labels\":{}")
	}
}

func TestProbeUnknown404(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for _, path := range []string{"/api/v1/probes/nope", "/api/v1/nope", "/nope"} {
		rec := get(t, h, path)
		wantStatus(t, rec, http.StatusNotFound)
		var e errorJSON
		decode(t, rec, &e)
		if e.Error == "" {
			t.Errorf("%s: empty error", path)
		}
	}
	rec := get(t, h, "/api/v1/probes/nope")
	if !strings.Contains(rec.Body.String(), `no probe named \"nope\"`) {
		t.Errorf("body %s", rec.Body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	req := localRequest(http.MethodPost, "/api/v1/status", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusMethodNotAllowed)
	if rec.Header().Get("Allow") == "" {
		t.Error("no Allow header")
	}
}

func TestHead(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	req := localRequest(http.MethodHead, "/api/v1/status", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantStatus(t, rec, 200)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: body %d bytes, Content-Length %s", rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestQuery(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	before := time.Now()
	rec := get(t, h, "/api/v1/query?series="+url.QueryEscape(`system.disk.used_percent{mount="/",device="sda1",probe="system"}`))
	wantStatus(t, rec, 200)

	var body struct {
		From, To    time.Time
		StepSeconds float64 `json:"step_seconds"`
		Series      []struct {
			Probe  string
			Name   string
			Labels map[string]string
			Points [][2]float64
		}
	}
	decode(t, rec, &body)
	if len(body.Series) != 1 || len(body.Series[0].Points) != 2 || body.Series[0].Probe != "system" {
		t.Fatalf("series %+v", body.Series)
	}
	if pt := body.Series[0].Points[0]; pt[0] != float64(t0.UnixMilli()) || pt[1] != 61.5 {
		t.Errorf("point %v", pt)
	}
	q := f.queries[0]
	if q.Name != "system.disk.used_percent" || q.Probe != "system" || q.Labels["mount"] != "/" || q.Labels["device"] != "sda1" || len(q.Labels) != 2 {
		t.Errorf("query passed %+v", q)
	}
	if q.MaxSeries != maxQueryPoints/721 {
		t.Errorf("MaxSeries %d, want %d for 721 points a series", q.MaxSeries, maxQueryPoints/721)
	}

	// Without probe, each probe's series comes on its own, never merged.
	f.queries = nil
	rec = get(t, h, "/api/v1/query?series="+url.QueryEscape(`system.disk.used_percent{mount="/"}`))
	wantStatus(t, rec, 200)
	decode(t, rec, &body)
	if len(body.Series) != 2 || body.Series[0].Probe != "system" || body.Series[1].Probe != "evil" || body.Series[1].Points[0][1] != 999 {
		t.Errorf("series of two probes: %+v", body.Series)
	}
	if d := q.To.Sub(q.From); d != time.Hour {
		t.Errorf("default range %s, want 1h", d)
	}
	if q.To.Before(before) || q.To.After(time.Now()) {
		t.Errorf("default to %s is not now", q.To)
	}
	if q.Step != 5*time.Second || body.StepSeconds != 5 {
		t.Errorf("auto step %s (%v s), want 5s for 1h", q.Step, body.StepSeconds)
	}

	// Explicit parameters and several series.
	f.queries = nil
	rec = get(t, h, "/api/v1/query?series=system.cpu.percent&series=system.disk.used_percent&from=1700000000&to=2023-11-14T23:13:20Z&step=1m")
	wantStatus(t, rec, 200)
	decode(t, rec, &body)
	if len(body.Series) != 4 {
		t.Errorf("%d series, want 4", len(body.Series))
	}
	if len(f.queries) != 2 || !f.queries[0].From.Equal(time.Unix(1700000000, 0)) ||
		!f.queries[0].To.Equal(time.Unix(1700003600, 0)) || f.queries[0].Step != time.Minute {
		t.Errorf("queries %+v", f.queries)
	}

	// fn=rate asks the store for rates and says so in the answer.
	f.queries = nil
	rec = get(t, h, "/api/v1/query?series=system.net.bytes_recv&fn=rate")
	wantStatus(t, rec, 200)
	if len(f.queries) != 1 || !f.queries[0].Rate || !strings.Contains(rec.Body.String(), `"fn":"rate"`) {
		t.Errorf("fn=rate: queries %+v, body %s", f.queries, rec.Body)
	}
	if f.queries = nil; !strings.Contains(get(t, h, "/api/v1/query?series=a").Body.String(), `"step_seconds":5,"series"`) || f.queries[0].Rate {
		t.Errorf("without fn: rate asked or fn in the answer")
	}

	// No match is an empty list, not null.
	rec = get(t, h, "/api/v1/query?series=nothing.here")
	wantStatus(t, rec, 200)
	if !strings.Contains(rec.Body.String(), `"series":[]`) {
		t.Errorf("body %s", rec.Body)
	}
}

// One answer holds at most maxQueryPoints points: the more points a series
// has, the fewer series a query may match, counted over all its selectors.
func TestQuerySeriesBudget(t *testing.T) {
	f := newFake()
	for i := range 50 {
		f.series = append(f.series, store.Series{Probe: "evil", Name: "evil.x", Labels: map[string]string{"i": strconv.Itoa(i)}})
	}
	h := newTestServer(t, f, "")
	// 3h at 1s: 10,801 points a series, room for 46 series.
	rec := get(t, h, "/api/v1/query?series=evil.x&range=3h&step=1s")
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "more than 46 series match (up to 10801 points each") {
		t.Errorf("body %s", rec.Body)
	}
	// At 2s, room for 92: the 50 fit, and 40 more of a second selector
	// would not.
	rec = get(t, h, "/api/v1/query?series=evil.x&range=3h&step=2s")
	wantStatus(t, rec, http.StatusOK)
	rec = get(t, h, "/api/v1/query?series=evil.x&series=evil.x&range=3h&step=2s")
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestQueryBadParams(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	tests := []struct {
		query, param, contains string
	}{
		{"series=a&from=abc", "from", `from: cannot parse \"abc\"`},
		{"series=a&to=yesterday", "to", "to: cannot parse"},
		{"series=a&from=-1x", "from", "relative time"},
		{"series=a&from=now&to=-1h", "from", "must be before to"},
		{"series=a&step=-5", "step", "step:"},
		{"series=a&step=0", "step", "step:"},
		{"series=a&step=fast", "step", "step:"},
		{"series=a&from=-30d&step=1s", "step", "use a larger step"},
		{"", "series", "series: required"},
		{"series=", "series", "series: required"},
		{"series=" + url.QueryEscape(`a{mount="/"`), "series", "missing closing }"},
		{"series=" + url.QueryEscape(`a{mount=/}`), "series", "double quoted"},
		{"series=" + url.QueryEscape(`bad name`), "series", "invalid character"},
		{"series=a&fn=derivative", "fn", `fn: \"derivative\" is not a function`},
		{"series=" + url.QueryEscape(`a{probe=""}`), "series", "names no probe"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := get(t, h, "/api/v1/query?"+tt.query)
			wantStatus(t, rec, http.StatusBadRequest)
			var e errorJSON
			decode(t, rec, &e)
			if e.Param != tt.param {
				t.Errorf("param %q, want %q (error %q)", e.Param, tt.param, e.Error)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body %s lacks %q", rec.Body, tt.contains)
			}
		})
	}
}

func TestSeries(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	rec := get(t, h, "/api/v1/series")
	wantStatus(t, rec, 200)
	var body struct {
		Series []struct {
			Probe  string
			Name   string
			Labels map[string]string
		}
		NextCursor *string `json:"next_cursor"`
	}
	decode(t, rec, &body)
	if len(body.Series) != 4 || body.Series[0].Labels == nil || body.Series[1].Labels["mount"] != "/" || body.Series[3].Probe != "evil" || body.NextCursor != nil {
		t.Errorf("series %+v, next %v", body.Series, body.NextCursor)
	}
	if !strings.Contains(rec.Body.String(), `"next_cursor":null`) {
		t.Errorf("no null next_cursor on the last page: %s", rec.Body)
	}

	// Pages.
	var names []string
	path := "/api/v1/series?probe=system&limit=2"
	for pages := 0; ; pages++ {
		rec = get(t, h, path)
		wantStatus(t, rec, 200)
		body.NextCursor = nil
		decode(t, rec, &body)
		if len(body.Series) > 2 || pages > 2 {
			t.Fatalf("page %d: %d series", pages, len(body.Series))
		}
		for _, s := range body.Series {
			names = append(names, s.Probe+" "+s.Name)
		}
		if body.NextCursor == nil {
			break
		}
		path = "/api/v1/series?probe=system&limit=2&cursor=" + url.QueryEscape(*body.NextCursor)
	}
	if len(names) != 3 || names[2] != "system system.disk.used_percent" {
		t.Errorf("pages held %q", names)
	}
	rec = get(t, h, "/api/v1/series?name=system.cpu.percent")
	decode(t, rec, &body)
	if len(body.Series) != 1 {
		t.Errorf("by name: %+v", body.Series)
	}

	for query, param := range map[string]string{
		"limit=0":                             "limit",
		"limit=10001":                         "limit",
		"limit=x":                             "limit",
		"cursor=nope":                         "cursor",
		"name=" + url.QueryEscape(`a{b="c"}`): "name",
		"name=" + url.QueryEscape("a b"):      "name",
	} {
		rec := get(t, h, "/api/v1/series?"+query)
		wantStatus(t, rec, http.StatusBadRequest)
		var e errorJSON
		decode(t, rec, &e)
		if e.Param != param {
			t.Errorf("%s: param %q, want %q (%s)", query, e.Param, param, e.Error)
		}
	}
}

// A store that is not writing is in the status, as a crit alert.
func TestStatusStoreNotWriting(t *testing.T) {
	f := newFake()
	f.storeH = store.Health{Writable: false, Error: "disk nearly full: 3.0 MiB free in /var/lib/barbossa/store", FreeBytes: 3 << 20, MinFreeBytes: 256 << 20, Dropped: 12}
	rec := get(t, newTestServer(t, f, ""), "/api/v1/status")
	wantStatus(t, rec, 200)
	var body struct {
		Status string
		Store  storeHealthView
		Alerts []struct{ Kind, Severity, Message string }
	}
	decode(t, rec, &body)
	if body.Status != "crit" || body.Store.Writable || body.Store.Dropped != 12 || body.Store.Error != f.storeH.Error {
		t.Errorf("status %q, store %+v", body.Status, body.Store)
	}
	found := false
	for _, a := range body.Alerts {
		if a.Kind == "store" && a.Severity == "crit" && strings.Contains(a.Message, "disk nearly full") {
			found = true
		}
	}
	if !found {
		t.Errorf("no store alert in %+v", body.Alerts)
	}
}

// At most maxHeavy history requests run at once; one more waits for a slot
// and, after heavyWait, gets a 503 with Retry-After. The fake clock of
// synctest runs the wait.
func TestHeavyRequestsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.block = make(chan struct{})
		h := newTestServer(t, f, "")
		done := make(chan int, maxHeavy+1)
		for range maxHeavy {
			go func() { done <- get(t, h, "/api/v1/query?series=system.cpu.percent").Code }()
		}
		synctest.Wait() // all four are inside QueryEach, blocked
		start := time.Now()
		rec := get(t, h, "/api/v1/series")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" || time.Since(start) != heavyWait {
			t.Errorf("fifth request: %d after %s, Retry-After %q; want 503 after %s", rec.Code, time.Since(start), rec.Header().Get("Retry-After"), heavyWait)
		}
		close(f.block)
		for range maxHeavy {
			if code := <-done; code != 200 {
				t.Errorf("a blocked query ended with %d", code)
			}
		}
		if rec := get(t, h, "/api/v1/series"); rec.Code != 200 {
			t.Errorf("after the slots freed: %d", rec.Code)
		}
	})
}

func TestEvents(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	rec := get(t, h, "/api/v1/events")
	wantStatus(t, rec, 200)
	var body struct{ Events []map[string]any }
	decode(t, rec, &body)
	if len(body.Events) != 60 || f.eventsLimit != defaultEventLimit || !f.eventsSince.IsZero() {
		t.Errorf("%d events, limit %d, since %s", len(body.Events), f.eventsLimit, f.eventsSince)
	}
	rec = get(t, h, "/api/v1/events?since=-2h&limit=7")
	wantStatus(t, rec, 200)
	decode(t, rec, &body)
	if len(body.Events) != 7 || f.eventsLimit != 7 || time.Since(f.eventsSince) < 2*time.Hour-time.Minute {
		t.Errorf("%d events, limit %d, since %s", len(body.Events), f.eventsLimit, f.eventsSince)
	}
	for _, q := range []struct{ query, param string }{
		{"limit=0", "limit"}, {"limit=x", "limit"}, {"limit=100000", "limit"}, {"since=soon", "since"},
	} {
		rec := get(t, h, "/api/v1/events?"+q.query)
		wantStatus(t, rec, http.StatusBadRequest)
		var e errorJSON
		decode(t, rec, &e)
		if e.Param != q.param {
			t.Errorf("%s: param %q", q.query, e.Param)
		}
	}
}

func TestNetwork(t *testing.T) {
	rec := get(t, newTestServer(t, newFake(), ""), "/api/v1/network")
	wantStatus(t, rec, 200)
	var body networkBody
	decode(t, rec, &body)
	if !body.Available || body.Probe != "system" || body.Time == nil {
		t.Fatalf("network %+v", body)
	}
	if body.Connections.TCP != 7 || body.Connections.UDP != 3 || body.Connections.ByState["ESTABLISHED"] != 5 {
		t.Errorf("connections %+v", body.Connections)
	}
	if body.ListenersTotal != 2 || len(body.Listeners) != 2 {
		t.Fatalf("listeners %+v", body.Listeners)
	}
	if l := body.Listeners[0]; l.Proto != "tcp" || l.Port != 22 || l.PID != 812 || l.Process != "sshd" {
		t.Errorf("listener %+v", l)
	}
	if l := body.Listeners[1]; l.Port != 53 || l.Address != "::" {
		t.Errorf("listener %+v", l)
	}
	if len(body.Interfaces) != 2 || body.Interfaces[0].Name != "eth0" || body.Interfaces[0].BytesSent != 2000 {
		t.Errorf("interfaces %+v", body.Interfaces)
	}
}

func TestNetworkWithoutSystemProbe(t *testing.T) {
	f := newFake()
	delete(f.latest, "system")
	rec := get(t, newTestServer(t, f, ""), "/api/v1/network")
	wantStatus(t, rec, 200)
	var body networkBody
	decode(t, rec, &body)
	if body.Available || !strings.Contains(body.Message, "no fresh report") || body.Listeners == nil {
		t.Errorf("network %+v", body)
	}
}

func TestSystemProbeByRuntime(t *testing.T) {
	f := newFake()
	f.health[2].Name = "host"
	f.latest["host"] = f.latest["system"]
	delete(f.latest, "system")
	rec := get(t, newTestServer(t, f, ""), "/api/v1/network")
	var body networkBody
	decode(t, rec, &body)
	if !body.Available || body.Probe != "host" {
		t.Errorf("network %+v: should find builtin:system under another name", body)
	}
}

func TestHealthz(t *testing.T) {
	rec := get(t, newTestServer(t, newFake(), "s3cret"), "/healthz")
	wantStatus(t, rec, 200)
	if rec.Body.String() != "ok\n" {
		t.Errorf("body %q", rec.Body)
	}
}

func TestAuth(t *testing.T) {
	h := newTestServer(t, newFake(), "s3cret")
	tests := []struct {
		name, path, auth string
		code             int
	}{
		{"healthz open", "/healthz", "", 200},
		{"missing token", "/api/v1/status", "", 401},
		{"wrong token", "/api/v1/status", "Bearer nope", 401},
		{"token prefix", "/api/v1/status", "Bearer s3cre", 401},
		{"basic scheme", "/api/v1/status", "Basic czNjcmV0", 401},
		{"right token", "/api/v1/status", "Bearer s3cret", 200},
		{"scheme case", "/api/v1/probes/system", "bearer s3cret", 200},
		{"metrics", "/metrics", "", 401},
		{"metrics right", "/metrics", "Bearer s3cret", 200},
		{"page sends a browser to the login form", "/", "", 303},
		{"legacy", "/api/comprehensive-status", "", 401},
		{"unknown path hides 404", "/nope", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.path, "Authorization", tt.auth)
			wantStatus(t, rec, tt.code)
			if tt.code == 303 && rec.Header().Get("Location") != "/login" {
				t.Errorf("redirect to %q, want /login", rec.Header().Get("Location"))
			}
			if tt.code == 401 {
				var e errorJSON
				decode(t, rec, &e)
				if e.Error == "" || rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without error or WWW-Authenticate: %s", rec.Body)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for _, path := range []string{"/api/v1/status", "/", "/nope", "/api/v1/query?from=x"} {
		rec := get(t, h, path)
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", path)
		}
	}
	if csp := get(t, h, "/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

func TestPage(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	rec := get(t, h, "/")
	wantStatus(t, rec, 200)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content-type %q", ct)
	}
	body := rec.Body.String()
	for _, s := range []string{`src="/static/app.js"`, `src="/static/ticks.js"`, `src="/static/vendor/uplot/uPlot.iife.min.js"`, `href="/static/app.css"`, `id="chart-grid"`} {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// The page's CSP: its own scripts, nothing inline, no other host.
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("page CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
		t.Errorf("page CSP %q allows inline code or another origin", csp)
	}
	for path, ctype := range map[string]string{
		"/static/app.js": "text/javascript", "/static/ticks.js": "text/javascript", "/static/app.css": "text/css",
		"/static/vendor/uplot/uPlot.iife.min.js": "text/javascript", "/static/vendor/uplot/LICENSE": "text/plain",
	} {
		rec := get(t, h, path)
		wantStatus(t, rec, 200)
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: content-type %q, want %s", path, rec.Header().Get("Content-Type"), ctype)
		}
		wantStatus(t, get(t, h, path, "If-None-Match", rec.Header().Get("ETag")), http.StatusNotModified)
	}
	// Templates and the document root are not files to serve.
	wantStatus(t, get(t, h, "/static/index.html"), 404)
	if rec := get(t, h, "/static/../login.html"); rec.Code == 200 {
		t.Errorf("a template was served: %s", rec.Body)
	}
	wantStatus(t, get(t, h, "/static/"), 404)
}

// TestPageBudget keeps the page and everything it loads within 200 KB
// gzipped, as a phone on a slow link would fetch it.
func TestPageBudget(t *testing.T) {
	total := len(pageFile.gz)
	for name, e := range assets {
		if e.gz == nil {
			total += len(e.identity)
		} else {
			total += len(e.gz)
		}
		if name == "LICENSE" {
			t.Errorf("a stray LICENSE at the top of static/")
		}
	}
	t.Logf("page + assets: %d bytes gzipped", total)
	if total > 200_000 {
		t.Errorf("page + assets are %d bytes gzipped, over the 200 KB budget", total)
	}
	if len(assets) < 4 {
		t.Errorf("only %d assets embedded", len(assets))
	}
}

func TestETag(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	for _, path := range []string{"/api/v1/status", "/api/v1/probes", "/api/v1/probes/system", "/api/v1/network", "/api/barbossa-status", "/api/projects"} {
		t.Run(path, func(t *testing.T) {
			first := get(t, h, path)
			etag := first.Header().Get("ETag")
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || strings.HasPrefix(etag, "W/") {
				t.Fatalf("ETag %q is not a strong tag", etag)
			}
			again := get(t, h, path, "If-None-Match", etag)
			wantStatus(t, again, http.StatusNotModified)
			if again.Body.Len() != 0 || again.Header().Get("ETag") != etag {
				t.Errorf("304 with body %q, ETag %q", again.Body, again.Header().Get("ETag"))
			}
			wantStatus(t, get(t, h, path, "If-None-Match", `"other", W/`+etag), http.StatusNotModified)
			wantStatus(t, get(t, h, path, "If-None-Match", `"other"`), http.StatusOK)

			f.bump()
			after := get(t, h, path, "If-None-Match", etag)
			wantStatus(t, after, http.StatusOK)
			if after.Header().Get("ETag") == etag {
				t.Error("ETag did not change with the version")
			}
		})
	}
}

func TestETagsDifferAcrossRestarts(t *testing.T) {
	f := newFake()
	a := get(t, newTestServer(t, f, ""), "/api/v1/status").Header().Get("ETag")
	b := get(t, newTestServer(t, f, ""), "/api/v1/status").Header().Get("ETag")
	if a == b {
		t.Errorf("two servers at the same version gave the same ETag %s: a restarted agent would answer 304 for new data", a)
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestGzip(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for _, path := range []string{"/api/v1/status", "/api/v1/probes/system", "/api/v1/events"} {
		t.Run(path, func(t *testing.T) {
			plain := get(t, h, path)
			zipped := get(t, h, path, "Accept-Encoding", "br;q=1.0, gzip;q=0.8")
			wantStatus(t, zipped, 200)
			if zipped.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(zipped.Header().Get("Vary"), "Accept-Encoding") {
				t.Fatalf("headers %v", zipped.Header())
			}
			if plain.Header().Get("Content-Encoding") != "" {
				t.Error("identity response is encoded")
			}
			if zipped.Body.Len() >= plain.Body.Len() {
				t.Errorf("gzip %d bytes >= identity %d", zipped.Body.Len(), plain.Body.Len())
			}
			if !bytes.Equal(gunzip(t, zipped.Body.Bytes()), plain.Body.Bytes()) {
				t.Error("gzip body differs from identity body")
			}
			if e1, e2 := plain.Header().Get("ETag"), zipped.Header().Get("ETag"); e1 != "" && e1 == e2 {
				t.Errorf("identity and gzip share the strong ETag %s", e1)
			}
		})
	}
	if rec := get(t, h, "/api/v1/status", "Accept-Encoding", "gzip;q=0"); rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 was answered with gzip")
	}
}

func TestCacheBuildsOncePerVersion(t *testing.T) {
	// In a bubble the clock stands still while the requests run, so this
	// test is about versions only, however long 4000 requests take.
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := New(Config{}, f, nil).Handler()
		paths := []string{"/api/v1/status", "/api/comprehensive-status", "/api/v1/probes", "/api/v1/probes/system",
			"/api/v1/probes/tmux", "/api/v1/network", "/api/barbossa-status", "/", "/metrics", "/api/v1/probes/nope"}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					for _, p := range paths {
						get(t, h, p, "Accept-Encoding", "gzip")
						get(t, h, p)
					}
				}
			})
		}
		wg.Wait()
		if n := f.healthCalls.Load(); n != 1 {
			t.Errorf("Source.Health called %d times for 4000 requests at one version, want 1", n)
		}
		if n := f.latestCalls.Load(); n != 4 {
			t.Errorf("Source.Latest called %d times, want 4 (once per probe)", n)
		}
		if n := f.eventCalls.Load(); n != 1 {
			t.Errorf("Source.Events called %d times, want 1", n)
		}

		f.bump()
		for range 50 {
			get(t, h, "/api/v1/status")
		}
		if n := f.healthCalls.Load(); n != 2 {
			t.Errorf("after one version change Health was called %d times in all, want 2", n)
		}
	})
}

func TestCacheEncodesOnce(t *testing.T) {
	f := newFake()
	s := New(Config{}, f, nil)
	h := s.Handler()
	for range 20 {
		get(t, h, "/api/v1/status")
	}
	sn := s.cache.cur.Load()
	e1 := sn.bodies["status"]
	get(t, h, "/api/v1/status")
	if e2 := s.cache.cur.Load().bodies["status"]; e1 != e2 || e1 == nil {
		t.Error("status body was re-encoded without a version change")
	}
}

func TestCacheExpiresWithoutChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := New(Config{}, f, nil).Handler()
		get(t, h, "/api/v1/status")
		time.Sleep(maxSnapshotAge - time.Nanosecond)
		get(t, h, "/api/v1/status")
		if n := f.healthCalls.Load(); n != 1 {
			t.Errorf("Health called %d times within the age bound, want 1", n)
		}
		time.Sleep(time.Nanosecond)
		get(t, h, "/api/v1/status")
		if n := f.healthCalls.Load(); n != 2 {
			t.Errorf("Health called %d times at the age bound, want a rebuild of the old snapshot (2)", n)
		}
		get(t, h, "/api/v1/status")
		if n := f.healthCalls.Load(); n != 2 {
			t.Errorf("Health called %d times after the rebuild, want the new snapshot served (2)", n)
		}
	})
}

func TestStoreErrorIsNotCached(t *testing.T) {
	f := newFake()
	f.latestErr = errFake
	h := newTestServer(t, f, "")
	for range 3 {
		rec := get(t, h, "/api/v1/probes/system")
		wantStatus(t, rec, 200)
		var p probeView
		decode(t, rec, &p)
		if p.ReportState != reportError || p.Report != nil {
			t.Errorf("report_state %q", p.ReportState)
		}
		if rec.Header().Get("ETag") != "" {
			t.Error("a response built from a failed read carries an ETag")
		}
	}
	if n := f.healthCalls.Load(); n != 3 {
		t.Errorf("Health called %d times, want 3: failed snapshots must not be cached", n)
	}
	f.mu.Lock()
	f.latestErr = nil
	f.mu.Unlock()
	rec := get(t, h, "/api/v1/probes/system")
	var p probeView
	decode(t, rec, &p)
	if p.ReportState != reportFresh {
		t.Errorf("after recovery report_state %q", p.ReportState)
	}
}

func TestPanicRecovered(t *testing.T) {
	f := newFake()
	f.panicOn = "health"
	h := newTestServer(t, f, "")
	rec := get(t, h, "/api/v1/status")
	wantStatus(t, rec, http.StatusInternalServerError)
	var e errorJSON
	decode(t, rec, &e)
	if e.Error != "internal error" {
		t.Errorf("error %q", e.Error)
	}
	f.mu.Lock()
	f.panicOn = ""
	f.mu.Unlock()
	wantStatus(t, get(t, h, "/api/v1/status"), 200)
}

func TestProjects(t *testing.T) {
	f := newFake()
	var body projectsBody
	decode(t, get(t, newTestServer(t, f, ""), "/api/projects"), &body)
	if body.Available || !strings.Contains(body.Message, "no projects probe is configured") || body.Projects == nil || len(body.Projects) != 0 {
		t.Errorf("with no projects probe: %+v", body)
	}

	// A projects probe under another name is found by its repositories.
	f.health = append(f.health, scheduler.Health{Name: "src", Runtime: "wasm", Source: "projects.wasm", State: "ok", LastRun: t0, LastSuccess: t0})
	var r sdk.Report
	r.Message = "2 repositories, 1 with uncommitted changes"
	r.Add(sdk.Entity{Kind: "repository", ID: "b/api", Name: "api", State: "dirty", Health: sdk.StatusOK, Attrs: map[string]any{"branch": "main", "modified": float64(2)}})
	r.Add(sdk.Entity{Kind: "repository", ID: "a/web", Name: "web", State: "clean", Health: sdk.StatusOK})
	f.latest["src"] = store.Record{Probe: "src", Time: t0, Report: r}
	f.bump()
	decode(t, get(t, newTestServer(t, f, ""), "/api/projects"), &body)
	if !body.Available || body.Probe != "src" || len(body.Projects) != 2 || body.Projects[0].ID != "a/web" ||
		body.Projects[1].Attrs["branch"] != "main" || body.Projects[0].Attrs == nil || body.Message != r.Message {
		t.Errorf("projects %+v", body)
	}

	// A probe named projects with no fresh report: empty, with the reason.
	f2 := newFake()
	f2.health = append(f2.health, scheduler.Health{Name: "projects", State: "failing"})
	decode(t, get(t, newTestServer(t, f2, ""), "/api/projects"), &body)
	if body.Available || body.Probe != "projects" || body.Message != "no fresh report from probe projects" || len(body.Projects) != 0 {
		t.Errorf("stale projects probe: %+v", body)
	}
}

func TestPProf(t *testing.T) {
	auth := []string{"Authorization", "Bearer s3cret"}
	off := New(Config{Token: "s3cret"}, newFake(), nil).Handler()
	wantStatus(t, get(t, off, "/debug/pprof/", auth...), http.StatusNotFound)
	on := New(Config{Token: "s3cret", PProf: true}, newFake(), nil).Handler()
	wantStatus(t, get(t, on, "/debug/pprof/"), http.StatusUnauthorized)
	rec := get(t, on, "/debug/pprof/goroutine?debug=1", auth...)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "goroutine profile") {
		t.Errorf("goroutine profile: %.200s", rec.Body)
	}
	// With no token the profiler is never served, whatever the flag says.
	noToken := New(Config{PProf: true}, newFake(), nil).Handler()
	wantStatus(t, get(t, noToken, "/debug/pprof/"), http.StatusNotFound)
}

// TestDropInProblems: a refused drop-in is in the status with its file and
// line, as an alert, and on the probe whose previous version runs on (in
// the status and in /api/v1/probes/{name}); the overall status is warn.
func TestDropInProblems(t *testing.T) {
	f := newFake()
	delete(f.latest, "docker")            // nothing crit
	f.health = f.health[:len(f.health)-1] // no failing tmux either
	f.dropIns = []DropInProblem{
		{File: "/p/docker.toml", Line: 2, Error: "/p/docker.toml:2: timeout: too long", Probe: "docker", Since: t0},
		{File: "/p/x", Error: "/p/x: the drop-in file is writable by others (-rwxrwxrwx): refused; chmod go-w it", Since: t0},
	}
	h := newTestServer(t, f, "")
	var body struct {
		Status string
		Probes []struct {
			Name        string
			DropInError *DropInProblem `json:"dropin_error"`
		}
		Alerts         []alert
		DropInProblems []DropInProblem `json:"dropin_problems"`
	}
	decode(t, get(t, h, "/api/v1/status"), &body)
	if body.Status != "warn" {
		t.Errorf("status %q, want warn for the refused drop-ins", body.Status)
	}
	if len(body.DropInProblems) != 2 || body.DropInProblems[0].Line != 2 || body.DropInProblems[1].Probe != "" {
		t.Errorf("dropin_problems %+v", body.DropInProblems)
	}
	var dropAlerts []alert
	for _, a := range body.Alerts {
		if a.Kind == "dropin" {
			dropAlerts = append(dropAlerts, a)
		}
	}
	if len(dropAlerts) != 2 || dropAlerts[0].File != "/p/docker.toml" || dropAlerts[0].Line != 2 || dropAlerts[0].Probe != "docker" ||
		dropAlerts[0].Severity != "warn" || !strings.Contains(dropAlerts[1].Message, "chmod go-w") {
		t.Errorf("drop-in alerts %+v", dropAlerts)
	}
	for _, p := range body.Probes {
		if (p.Name == "docker") != (p.DropInError != nil) {
			t.Errorf("probe %s: dropin_error %+v", p.Name, p.DropInError)
		}
	}
	var probe struct {
		DropInError *DropInProblem `json:"dropin_error"`
	}
	decode(t, get(t, h, "/api/v1/probes/docker"), &probe)
	if probe.DropInError == nil || probe.DropInError.File != "/p/docker.toml" {
		t.Errorf("/api/v1/probes/docker dropin_error %+v", probe.DropInError)
	}

	// None: an empty list, and no field on the probes.
	f.dropIns = nil
	f.bump()
	rec := get(t, h, "/api/v1/status")
	if !strings.Contains(rec.Body.String(), `"dropin_problems":[]`) || strings.Contains(rec.Body.String(), "dropin_error") {
		t.Errorf("without problems: %s", rec.Body.String())
	}
}
