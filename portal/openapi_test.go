package portal

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gorilla/mux"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIFile.identity)
	if err != nil {
		t.Fatalf("web/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("web/openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	return doc
}

// apiCall is one request whose real response is checked against the
// document: method, the path as the document names it, the request's URL,
// its body, and the status it must get.
type apiCall struct {
	method, spec, url, body string
	status                  int
	hdr                     []string
}

// TestOpenAPIMatchesResponses sends requests to every route of a portal
// over the fake source (with a token, a session, granted actions and pprof
// on) and validates every response — status, headers' content type and
// body — against web/openapi.json; and checks that the document and the
// router list the same routes.
func TestOpenAPIMatchesResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, ct := range []string{"text/event-stream", "text/html", "text/css", "text/javascript", "text/csv"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	actor := &fakeActor{res: ActionResult{Result: "done", Message: "job 1"}}
	alerts := &busyAlerts{}
	src := newFake()
	// A refused new version of the running docker probe, and a refused
	// drop-in that runs nothing: both shapes of a drop-in problem.
	src.dropIns = []DropInProblem{
		{File: "/etc/barbossa/probes.d/docker.toml", Line: 2, Error: "/etc/barbossa/probes.d/docker.toml:2: timeout: probe \"docker\": 1m must be shorter than interval 30s", Probe: "docker", Since: t0},
		{File: "/etc/barbossa/probes.d/x", Error: "/etc/barbossa/probes.d/x: the drop-in file is writable by others (-rwxrwxrwx): refused; chmod go-w it", Since: t0},
	}
	srv := New(Config{Token: "s3cret", PProf: true, Alerts: alerts,
		Actions: Actions{Containers: []string{"web"}, Units: []string{"nginx.service"}, Actor: actor}}, src, nil)
	h := srv.Handler()
	bearer := []string{"Authorization", "Bearer s3cret"}
	bearerJSON := []string{"Authorization", "Bearer s3cret", "Content-Type", "application/json"}
	b := &browser{t: t, h: h, addr: "192.0.2.7:5000"}
	b.login("s3cret")
	csrf := b.csrf()
	sel := url.QueryEscape(`system.disk.used_percent{mount="/"}`)

	calls := []apiCall{
		{"GET", "/api/v1/status", "/api/v1/status", "", 200, bearer},
		{"GET", "/api/comprehensive-status", "/api/comprehensive-status", "", 200, bearer},
		{"GET", "/api/v1/probes", "/api/v1/probes", "", 200, bearer},
		{"GET", "/api/v1/probes/{name}", "/api/v1/probes/system", "", 200, bearer},
		{"GET", "/api/v1/probes/{name}", "/api/v1/probes/tmux", "", 200, bearer},
		{"GET", "/api/v1/probes/{name}", "/api/v1/probes/nope", "", 404, bearer},
		{"GET", "/api/v1/query", "/api/v1/query?series=" + sel + "&range=1h&step=1m", "", 200, bearer},
		{"GET", "/api/v1/query", "/api/v1/query?series=system.net.bytes_recv&fn=rate", "", 200, bearer},
		{"GET", "/api/v1/query", "/api/v1/query?series=a&from=abc", "", 400, bearer},
		{"GET", "/api/v1/series", "/api/v1/series", "", 200, bearer},
		{"GET", "/api/v1/series", "/api/v1/series?probe=system&limit=2", "", 200, bearer},
		{"GET", "/api/v1/series", "/api/v1/series?cursor=nope", "", 400, bearer},
		{"GET", "/api/v1/events", "/api/v1/events?limit=5", "", 200, bearer},
		{"GET", "/api/v1/events", "/api/v1/events?limit=0", "", 400, bearer},
		{"GET", "/api/v1/network", "/api/v1/network", "", 200, bearer},
		{"GET", "/api/network-status", "/api/network-status", "", 200, bearer},
		{"GET", "/api/barbossa-status", "/api/barbossa-status", "", 200, bearer},
		{"GET", "/api/projects", "/api/projects", "", 200, bearer},
		{"GET", "/api/v1/session", "/api/v1/session", "", 200, bearer},
		{"GET", "/api/v1/openapi.json", "/api/v1/openapi.json", "", 200, bearer},
		{"GET", "/api/v1/export", "/api/v1/export?format=json&range=1h&step=1m", "", 200, bearer},
		{"GET", "/api/v1/export", "/api/v1/export?format=csv&range=1h&step=1m", "", 200, bearer},
		{"GET", "/api/v1/export", "/api/v1/export?format=xml", "", 400, bearer},
		{"POST", "/api/v1/actions", "/api/v1/actions", `{"kind":"container","target":"web","action":"restart"}`, 200, bearer},
		{"POST", "/api/v1/actions", "/api/v1/actions", `{"kind":"container","target":"db","action":"restart"}`, 403, bearer},
		{"POST", "/api/v1/actions", "/api/v1/actions", `{"kind":"pod"}`, 400, bearer},
		{"GET", "/api/v1/alerts", "/api/v1/alerts", "", 200, bearer},
		{"POST", "/api/v1/silences", "/api/v1/silences", `{"matchers":{"alertname":"disk-full"},"duration":"2h","comment":"resizing"}`, 201, bearerJSON},
		{"POST", "/api/v1/silences", "/api/v1/silences", `{"matchers":{}}`, 415, bearer},
		{"POST", "/api/v1/silences", "/api/v1/silences", `{"matchers":{},"duration":"2h"}`, 400, bearerJSON},
		{"DELETE", "/api/v1/silences/{id}", "/api/v1/silences/1", "", 200, bearer},
		{"DELETE", "/api/v1/silences/{id}", "/api/v1/silences/nope", "", 404, bearer},
		{"GET", "/metrics", "/metrics", "", 200, bearer},
		{"GET", "/healthz", "/healthz", "", 200, nil},
		{"GET", "/", "/", "", 200, bearer},
		{"GET", "/", "/", "", 303, nil},
		{"GET", "/static/{file}", "/static/app.js", "", 200, nil},
		{"GET", "/static/{file}", "/static/app.css", "", 200, nil},
		{"GET", "/static/{file}", "/static/nope.js", "", 404, nil},
		{"GET", "/login", "/login", "", 200, nil},
		{"POST", "/login", "/login", "token=wrong", 401, nil},
		{"GET", "/debug/pprof/{profile}", "/debug/pprof/heap?debug=1", "", 200, bearer},
		{"GET", "/api/v1/status", "/api/v1/status", "", 401, nil},
	}
	seen := map[string]bool{}
	for _, c := range calls {
		t.Run(c.method+" "+c.url, func(t *testing.T) {
			req := localRequest(c.method, c.url, strings.NewReader(c.body))
			req.RemoteAddr = "192.0.2.9:4000"
			if c.method == http.MethodPost && strings.HasPrefix(c.body, "token=") {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			wantStatus(t, rec, c.status)
			validate(t, doc, c.method, c.spec, req, rec.Result().StatusCode, rec.Header(), rec.Body.Bytes())
			seen[c.method+" "+c.spec] = true
		})
	}

	// The session routes, from the browser's side: logout with its CSRF
	// token, and a login that works.
	for _, c := range []struct {
		method, path, body string
		status             int
		hdr                []string
	}{
		{"POST", "/logout", "csrf=" + url.QueryEscape(csrf), 303, nil},
		{"POST", "/login", "token=s3cret", 303, nil},
	} {
		rec := b.do(c.method, c.path, c.body, c.hdr...)
		wantStatus(t, rec, c.status)
		req := localRequest(c.method, c.path, nil)
		validate(t, doc, c.method, c.path, req, rec.Code, rec.Header(), rec.Body.Bytes())
		seen[c.method+" "+c.path] = true
	}

	// The stream, over a real server: its first event.
	s, stop := start(t, Config{Token: "s3cret"}, newFake())
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil || first != "event: status\n" {
		t.Fatalf("stream: %q, %v", first, err)
	}
	validate(t, doc, "GET", "/api/v1/stream", req, resp.StatusCode, resp.Header, []byte(first))
	seen["GET /api/v1/stream"] = true

	// Every operation in the document was exercised, and every route of
	// the router is in the document.
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations in openapi.json no test response checked: %v", missing)
	}
	varPattern := regexp.MustCompile(`\{(\w+):[^}]*\}`)
	err = srv.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		tpl = varPattern.ReplaceAllString(tpl, "{$1}")
		if tpl == "/debug/pprof/" {
			tpl = "/debug/pprof/{profile}"
		}
		if doc.Paths.Value(tpl) == nil {
			t.Errorf("route %s is not in openapi.json", tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// busyAlerts is fakeAlerts with an alert, a rule and a receiver to show.
type busyAlerts struct{ fakeAlerts }

func (b *busyAlerts) Status() alerting.Status {
	st := b.fakeAlerts.Status()
	if st.Silences == nil {
		st.Silences = []alerting.Silence{} // as the engine lists none
	}
	v := 93.1
	at := time.Now().Add(-time.Minute).UTC()
	st.EvaluatedAt = &at
	st.Summary = alerting.Summary{Firing: 1, NoData: 1}
	st.Alerts = []alerting.Alert{{Key: `disk-full{mount="/"}`, Rule: "disk-full", State: "firing", Severity: "critical",
		Labels: map[string]string{"alertname": "disk-full", "mount": "/"}, Annotations: map[string]string{"summary": "93.1, above 90"},
		Value: &v, ActiveAt: at, FiredAt: &at, SilencedBy: []string{}}}
	st.Rules = []alerting.RuleStatus{{Name: "disk-full", Kind: "series", Watches: "system.disk.used_percent > 90", Severity: "critical",
		State: "firing", Active: 1, Receivers: []string{"ops"}, Line: 3}}
	st.Receivers = []alerting.ReceiverStatus{{Name: "ops", Type: "webhook", Sent: 1}}
	return st
}

// validate checks one response against the document's operation.
func validate(t *testing.T, doc *openapi3.T, method, spec string, req *http.Request, status int, hdr http.Header, body []byte) {
	t.Helper()
	item := doc.Paths.Value(spec)
	if item == nil {
		t.Fatalf("openapi.json has no path %s", spec)
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Fatalf("openapi.json has no %s %s", method, spec)
	}
	route := &routers.Route{Spec: doc, Path: spec, PathItem: item, Method: method, Operation: op}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 status,
		Header:                 hdr,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match openapi.json: %v\nbody: %.600s", method, req.URL, status, err, body)
	}
}
