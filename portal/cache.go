package portal

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
)

// maxSnapshotAge bounds how long a snapshot is served while the data version
// stays the same. Some states are a matter of time, not data (a probe that
// stops reporting turns stale, uptime grows), and a hung agent would
// otherwise keep serving "ok" forever.
const maxSnapshotAge = 10 * time.Second

// gzipMin is the smallest body worth compressing: below one packet gzip's
// framing costs more than it saves.
const gzipMin = 512

// snapshot is everything the cached responses are built from, read from the
// Source once per version. Bodies are encoded lazily, each at most once.
type snapshot struct {
	version uint64
	gen     uint64 // build number, so a rebuild at the same version gets a new ETag
	at      time.Time
	host    Host
	store   store.Health
	health  []scheduler.Health
	latest  map[string]*store.Record
	// latestErr marks probes whose report could not be read.
	latestErr map[string]bool
	events    []store.Event
	alerting  *alerting.Status // nil when the agent runs no alerting
	dropIns   []DropInProblem
	// cacheable is false when a read failed: such a snapshot answers the
	// request that built it and is then dropped, so a transient store error
	// is not served until the next data change.
	cacheable bool
	etagTag   string

	mu     sync.Mutex
	bodies map[string]*encoded
	prom   []prometheus.Metric // built on the first scrape
}

// encoded is one response, ready to write.
type encoded struct {
	status   int
	ctype    string
	identity []byte
	gz       []byte // nil when not worth compressing
	etag     string // "" when the snapshot is not cacheable
	etagGz   string
}

// cache holds the current snapshot.
type cache struct {
	s   *Server
	cur atomic.Pointer[snapshot]
	// mu serialises rebuilds, so concurrent requests after a change wait
	// for one read of the Source instead of each doing their own.
	mu  sync.Mutex
	gen atomic.Uint64
}

func (c *cache) init(s *Server) { c.s = s }

func (c *cache) fresh(sn *snapshot, v uint64, now time.Time) bool {
	return sn != nil && sn.version == v && now.Sub(sn.at) < maxSnapshotAge
}

// get returns a snapshot for the Source's current version, building it if
// needed. The version is read before the data, so a snapshot is never
// labelled newer than what it holds; at worst it is rebuilt once more.
func (c *cache) get() *snapshot {
	v := c.s.src.Version()
	now := time.Now()
	if sn := c.cur.Load(); c.fresh(sn, v, now) {
		return sn
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v = c.s.src.Version()
	now = time.Now()
	if sn := c.cur.Load(); c.fresh(sn, v, now) {
		return sn
	}
	sn := c.s.gather(v, now)
	sn.gen = c.gen.Add(1)
	if sn.cacheable {
		c.cur.Store(sn)
	}
	return sn
}

// gather reads everything a snapshot needs from the Source.
func (s *Server) gather(v uint64, now time.Time) *snapshot {
	sn := &snapshot{
		version:   v,
		at:        now,
		host:      s.src.Host(),
		store:     s.src.StoreHealth(),
		health:    s.src.Health(),
		latest:    map[string]*store.Record{},
		latestErr: map[string]bool{},
		cacheable: true,
		etagTag:   s.etagTag,
		bodies:    map[string]*encoded{},
	}
	for _, h := range sn.health {
		rec, ok, err := s.src.Latest(h.Name)
		switch {
		case err != nil:
			s.log.Warn("portal: reading latest report", "probe", h.Name, "err", err)
			sn.latestErr[h.Name] = true
			sn.cacheable = false
		case ok:
			sn.latest[h.Name] = &rec
		}
	}
	sn.host = sn.withSystemHost(sn.host)
	ev, err := s.src.Events(time.Time{}, statusEvents)
	if err != nil {
		s.log.Warn("portal: reading events", "err", err)
		sn.cacheable = false
	}
	sn.events = ev
	sn.dropIns = s.src.DropInProblems()
	if s.cfg.Alerts != nil {
		st := s.cfg.Alerts.Status()
		sn.alerting = &st
	}
	return sn
}

// body returns the encoded response under key, building it with build on
// first use. build returns the value to encode as JSON.
func (sn *snapshot) body(key string, build func() any) *encoded {
	return sn.bodyOf(key, func() *encoded {
		b, err := json.Marshal(build())
		if err != nil {
			// Only NaN or Inf in a report can get here; the probe host
			// should have rejected them.
			return errorBody(http.StatusInternalServerError, fmt.Errorf("encoding response: %w", err), "")
		}
		return sn.encode(http.StatusOK, "application/json", append(b, '\n'))
	})
}

// bodyOf is body for responses that are not JSON values (the page).
func (sn *snapshot) bodyOf(key string, build func() *encoded) *encoded {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if e, ok := sn.bodies[key]; ok {
		return e
	}
	e := build()
	sn.bodies[key] = e
	return e
}

// encode stores both codings of a body with their ETags. A strong ETag must
// differ between codings, so the gzip one carries a suffix.
func (sn *snapshot) encode(status int, ctype string, b []byte) *encoded {
	e := &encoded{status: status, ctype: ctype, identity: b}
	if len(b) >= gzipMin {
		var buf bytes.Buffer
		buf.Grow(len(b) / 4)
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		_, _ = zw.Write(b) // writes to a bytes.Buffer cannot fail
		_ = zw.Close()
		e.gz = buf.Bytes()
	}
	if sn.cacheable {
		base := sn.etagTag + "-" + strconv.FormatUint(sn.version, 10) + "-" + strconv.FormatUint(sn.gen, 10)
		e.etag = `"` + base + `"`
		e.etagGz = `"` + base + `-gz"`
	}
	return e
}

// serve writes a pre-encoded response, honouring If-None-Match and
// Accept-Encoding.
func serve(w http.ResponseWriter, r *http.Request, e *encoded) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("Cache-Control", "no-cache")
	body, etag := e.identity, e.etag
	gz := e.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		body, etag = e.gz, e.etagGz
	}
	if etag != "" {
		h.Set("ETag", etag)
		if e.status == http.StatusOK && noneMatch(r.Header.Get("If-None-Match"), e) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", e.ctype)
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// noneMatch reports whether an If-None-Match header matches the body. It
// uses the weak comparison RFC 9110 prescribes for If-None-Match and
// accepts either coding's tag: both name the same content.
func noneMatch(header string, e *encoded) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if t == e.etag || t == e.etagGz {
			return true
		}
	}
	return false
}

// acceptsGzip reads an Accept-Encoding header: gzip (or x-gzip, or *) with
// a q-value above zero.
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		ok := true
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ok = err == nil && q > 0
			}
		}
		if name == "*" {
			star = ok
			continue
		}
		return ok
	}
	return star
}
