package portal

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
	// maxSelectors bounds the series parameters of one query.
	maxSelectors = 20
	// maxQueryPoints bounds one /api/v1/query answer, over all its series:
	// at ~40 bytes a point in memory and in JSON, about 20 MB.
	maxQueryPoints = 500_000
	// maxQuerySeries bounds the series of one answer, however few points
	// each has.
	maxQuerySeries = 1000
	// Pages of /api/v1/series.
	defaultSeriesLimit = 1000
	maxSeriesLimit     = 10_000
)

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	get := func(path string, h http.HandlerFunc) {
		r.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
	}
	get("/healthz", handleHealthz)
	get("/metrics", s.metrics.ServeHTTP)

	get("/api/v1/status", s.cached("status", func(sn *snapshot) any { return sn.status() }))
	get("/api/v1/probes", s.cached("probes", func(sn *snapshot) any {
		return probesBody{Probes: sn.probeViews()}
	}))
	get("/api/v1/probes/{name}", s.handleProbe)
	get("/api/v1/query", s.heavy(s.handleQuery))
	get("/api/v1/series", s.heavy(s.handleSeries))
	get("/api/v1/events", s.handleEvents)
	get("/api/v1/network", s.cached("network", func(sn *snapshot) any { return sn.network() }))
	r.HandleFunc("/api/v1/actions", s.handleAction) // POST; answers other methods itself
	get("/api/v1/alerts", s.handleAlerts)
	r.HandleFunc("/api/v1/silences", s.handleSilences)     // POST
	r.HandleFunc("/api/v1/silences/{id}", s.handleSilence) // DELETE
	get("/api/v1/export", s.heavy(s.handleExport))
	get("/api/v1/stream", s.handleStream)

	// The original product's paths. comprehensive-status shares the
	// status body (and its cache entry).
	get("/api/comprehensive-status", s.cached("status", func(sn *snapshot) any { return sn.status() }))
	get("/api/network-status", s.cached("network", func(sn *snapshot) any { return sn.network() }))
	get("/api/barbossa-status", s.cached("barbossa", func(sn *snapshot) any { return sn.barbossa() }))

	get("/", handlePage)
	get("/static/{file:.+}", handleStatic)
	get("/login", s.handleLoginPage)
	r.Handle("/login", http.HandlerFunc(s.handleLogin)).Methods(http.MethodPost)
	r.Handle("/logout", http.HandlerFunc(s.handleLogout)).Methods(http.MethodPost)
	get("/api/v1/session", s.handleSession)
	get("/api/v1/openapi.json", handleOpenAPI)
	get("/api/projects", s.cached("projects", func(sn *snapshot) any { return sn.projects() }))
	if s.cfg.PProf && s.cfg.Token != "" {
		r.PathPrefix("/debug/pprof/").HandlerFunc(servePProf)
	}

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, fmt.Errorf("no route for %s", r.URL.Path), "")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method), "")
	})

	s.router = r
	var h http.Handler = r
	h = s.authenticate(h) // auth.go
	h = sameOrigin(h)
	h = requireKnownHost(s.cfg, h)
	h = securityHeaders(h)
	h = recoverPanics(s.log, h)
	h = logRequests(s.log, h)
	return h
}

// cached serves a body built from the current snapshot, encoded once per
// snapshot.
func (s *Server) cached(key string, build func(*snapshot) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sn := s.cache.get()
		serve(w, r, sn.body(key, func() any { return build(sn) }))
	}
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	sn := s.cache.get()
	for _, h := range sn.health {
		if h.Name == name {
			serve(w, r, sn.body("probe\x00"+name, func() any { return sn.probeView(h) }))
			return
		}
	}
	writeError(w, r, http.StatusNotFound, fmt.Errorf("no probe named %q", name), "")
}

// queryBody is the /api/v1/query response.
type queryBody struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	StepSeconds float64   `json:"step_seconds"`
	// Fn is the function applied to every series ("rate"), or absent.
	Fn     string       `json:"fn,omitempty"`
	Series []seriesView `json:"series"`
}

// queryParams is a parsed /api/v1/query request.
type queryParams struct {
	Selectors []selector
	From, To  time.Time
	Step      time.Duration
	// Fn is "" (the values as stored) or fnRate.
	Fn string
}

// fnRate asks for the per-second rate of counters (bytes sent since boot
// becomes bytes per second).
const fnRate = "rate"

// parseQuery validates the query parameters. Errors are *paramError.
func parseQuery(q map[string][]string, now time.Time) (queryParams, error) {
	p, err := parseWindow(q, now)
	if err != nil {
		return p, err
	}
	sels := q["series"]
	if len(sels) == 0 || (len(sels) == 1 && strings.TrimSpace(sels[0]) == "") {
		return p, badParam("series", "required, e.g. series=system.cpu.percent or series=system.disk.used_percent{mount=\"/\"}")
	}
	p.Selectors, err = parseSelectors(sels)
	if err != nil {
		return p, err
	}
	if v := q["fn"]; len(v) > 0 && v[0] != "" {
		if v[0] != fnRate {
			return p, badParam("fn", "%q is not a function: want rate (the per-second rate of a counter), or leave fn out", v[0])
		}
		p.Fn = v[0]
	}
	return p, nil
}

// parseWindow reads from, to (or range, a duration back from to) and step,
// which default to the last hour and a step giving at most ~1000 points.
func parseWindow(q map[string][]string, now time.Time) (queryParams, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	p := queryParams{From: now.Add(-time.Hour), To: now}
	var err error
	if v := get("to"); v != "" {
		if p.To, err = parseTime(v, now); err != nil {
			return p, &paramError{Param: "to", Err: err}
		}
	}
	if v := get("range"); v != "" {
		if get("from") != "" {
			return p, badParam("range", "give from or range, not both")
		}
		d, err := sdk.ParseDuration(v)
		if err != nil || d <= 0 {
			return p, badParam("range", "cannot parse %q: want a duration like 1h, 24h or 7d", v)
		}
		p.From = p.To.Add(-d)
	}
	if v := get("from"); v != "" {
		if p.From, err = parseTime(v, now); err != nil {
			return p, &paramError{Param: "from", Err: err}
		}
	}
	if !p.From.Before(p.To) {
		return p, badParam("from", "must be before to (from %s, to %s)", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	if p.Step, err = parseStep(get("step")); err != nil {
		return p, &paramError{Param: "step", Err: err}
	}
	rng := p.To.Sub(p.From)
	if p.Step == 0 {
		p.Step = autoStep(rng)
	}
	if n := rng / p.Step; n > maxPoints {
		return p, badParam("step", "%s over %s gives %d points per series, more than %d: use a larger step", p.Step, rng, n, maxPoints)
	}
	return p, nil
}

func parseSelectors(sels []string) ([]selector, error) {
	if len(sels) > maxSelectors {
		return nil, badParam("series", "at most %d per query, got %d", maxSelectors, len(sels))
	}
	var out []selector
	for _, v := range sels {
		sel, err := parseSelector(v)
		if err != nil {
			return nil, &paramError{Param: "series", Err: err}
		}
		out = append(out, sel)
	}
	return out, nil
}

// storeQuery turns a selector into a store query over p's window: series
// belong to the probe that reported them, which the selector's probe
// names (a report's own label "probe" is stored as "exported_probe").
func (sel selector) storeQuery(p queryParams) store.Query {
	return store.Query{Name: sel.Name, Probe: sel.Probe, Labels: sel.Labels, From: p.From, To: p.To, Step: p.Step}
}

// pointsPerSeries is the most points one series has over p's window.
func (p queryParams) pointsPerSeries() int {
	return int(p.To.Sub(p.From)/p.Step) + 1
}

// tooMany is the 400 for a query over its series budget.
func tooMany(max, points int) error {
	return badParam("series", "more than %d series match (up to %d points each; one answer holds at most %d points and %d series): name fewer, with labels or probe=\"...\", or use a larger step",
		max, points, maxQueryPoints, maxQuerySeries)
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	p, err := parseQuery(r.URL.Query(), time.Now())
	if err != nil {
		writeParamError(w, r, err)
		return
	}
	points := p.pointsPerSeries()
	budget := min(maxQuerySeries, maxQueryPoints/points) // series left for this answer
	out := queryBody{From: p.From, To: p.To, StepSeconds: p.Step.Seconds(), Fn: p.Fn, Series: []seriesView{}}
	for _, sel := range p.Selectors {
		if budget == 0 {
			writeParamError(w, r, tooMany(min(maxQuerySeries, maxQueryPoints/points), points))
			return
		}
		q := sel.storeQuery(p)
		q.MaxSeries, q.Rate = budget, p.Fn == fnRate
		err = s.src.QueryEach(q, func(sr store.Series) error {
			out.Series = append(out.Series, newSeriesView(sr))
			budget--
			return nil
		})
		if errors.Is(err, store.ErrTooManySeries) {
			writeParamError(w, r, tooMany(min(maxQuerySeries, maxQueryPoints/points), points))
			return
		}
		if err != nil {
			s.log.Warn("portal: query", "series", sel.Name, "err", err)
			writeError(w, r, http.StatusInternalServerError, fmt.Errorf("query %s: %w", sel.Name, err), "")
			return
		}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// seriesBody is the /api/v1/series response.
type seriesBody struct {
	Series []seriesInfoView `json:"series"`
	// NextCursor continues the listing; null on its last page.
	NextCursor *string `json:"next_cursor"`
}

// parseSeriesQuery reads probe, name, cursor and limit (default 1000, at
// most 10,000).
func parseSeriesQuery(q map[string][]string) (m store.Match, cursor string, limit int, err error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	m.Probe, m.Name, cursor, limit = get("probe"), get("name"), get("cursor"), defaultSeriesLimit
	if m.Name != "" {
		if _, err := parseSelector(m.Name); err != nil || strings.ContainsAny(m.Name, "{}") {
			return m, "", 0, badParam("name", "%q is not a series name", m.Name)
		}
	}
	if v := get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > maxSeriesLimit {
			return m, "", 0, badParam("limit", "cannot parse %q: want a whole number from 1 to %d", v, maxSeriesLimit)
		}
		limit = n
	}
	return m, cursor, limit, nil
}

func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	m, cursor, limit, err := parseSeriesQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, r, err)
		return
	}
	list, next, err := s.src.SeriesList(m, cursor, limit)
	if errors.Is(err, store.ErrBadCursor) {
		writeParamError(w, r, &paramError{Param: "cursor", Err: err})
		return
	}
	if err != nil {
		s.log.Warn("portal: series list", "err", err)
		writeError(w, r, http.StatusInternalServerError, fmt.Errorf("listing series: %w", err), "")
		return
	}
	body := seriesBody{Series: newSeriesInfoViews(list)}
	if next != "" {
		body.NextCursor = &next
	}
	writeJSON(w, r, http.StatusOK, body)
}

// parseEventsQuery reads since (default: no bound) and limit (default 100,
// at most 1000).
func parseEventsQuery(q map[string][]string, now time.Time) (since time.Time, limit int, err error) {
	limit = defaultEventLimit
	if v := q["since"]; len(v) > 0 && v[0] != "" {
		if since, err = parseTime(v[0], now); err != nil {
			return since, limit, &paramError{Param: "since", Err: err}
		}
	}
	if v := q["limit"]; len(v) > 0 && v[0] != "" {
		n, perr := strconv.Atoi(strings.TrimSpace(v[0]))
		if perr != nil || n < 1 || n > maxEventLimit {
			return since, limit, badParam("limit", "cannot parse %q: want a whole number from 1 to %d", v[0], maxEventLimit)
		}
		limit = n
	}
	return since, limit, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, limit, err := parseEventsQuery(r.URL.Query(), time.Now())
	if err != nil {
		writeParamError(w, r, err)
		return
	}
	ev, err := s.src.Events(since, limit)
	if err != nil {
		s.log.Warn("portal: events", "err", err)
		writeError(w, r, http.StatusInternalServerError, fmt.Errorf("reading events: %w", err), "")
		return
	}
	writeJSON(w, r, http.StatusOK, eventsBody{Events: newEventViews(ev)})
}

// eventsBody is the /api/v1/events response.
type eventsBody struct {
	Events []eventView `json:"events"`
}

// errorJSON is the body of every error response.
type errorJSON struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

func writeParamError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	if errors.As(err, &pe) {
		writeError(w, r, http.StatusBadRequest, err, pe.Param)
		return
	}
	writeError(w, r, http.StatusBadRequest, err, "")
}

func writeError(w http.ResponseWriter, r *http.Request, status int, err error, param string) {
	e := errorBody(status, err, param)
	h := w.Header()
	h.Set("Content-Type", e.ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(e.identity)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.identity)
	}
}

func errorBody(status int, err error, param string) *encoded {
	b, _ := json.Marshal(errorJSON{Error: err.Error(), Param: param}) // strings always marshal
	return &encoded{status: status, ctype: "application/json", identity: append(b, '\n')}
}

// writeJSON encodes a per-request response, gzipped when the client takes it
// and the body is big enough to gain from it.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, fmt.Errorf("encoding response: %w", err), "")
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if len(b) >= gzipMin && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		b = buf.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
