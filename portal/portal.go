// Package portal serves what the agent collected over HTTP: a JSON API, a
// Prometheus /metrics endpoint and a small page at /. It reads results
// through the Source interface it declares and never runs probes itself.
//
// Status and probe responses are built once per data version (Source.Version)
// and kept pre-encoded, identity and gzip, with a strong ETag, so a polling
// dashboard costs a map lookup and a write.
//
//	srv := portal.New(portal.Config{Listen: "127.0.0.1:8080", Token: tok}, src, logger)
//	if err := srv.ListenAndServe(ctx); err != nil { ... } // returns after ctx is done and requests drained
package portal

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
)

// Source is what the portal reads. core/agent implements it over the
// scheduler and the store; tests use a fake.
type Source interface {
	// Version changes whenever anything the portal serves changes (a probe
	// run finished, an event was recorded). Cached responses are keyed by it.
	Version() uint64
	// Changed returns a channel closed at the next change of Version, for
	// live views to wake on (Changes implements both).
	Changed() <-chan struct{}
	Health() []scheduler.Health
	Latest(probe string) (store.Record, bool, error)
	// QueryEach hands the series q matches to fn one at a time; more than
	// q.MaxSeries is an error wrapping store.ErrTooManySeries, before any.
	QueryEach(q store.Query, fn func(store.Series) error) error
	// SeriesList lists stored series a page at a time (store.SeriesList).
	SeriesList(m store.Match, cursor string, limit int) ([]store.SeriesInfo, string, error)
	// StoreHealth says whether the store is writing.
	StoreHealth() store.Health
	Events(since time.Time, limit int) ([]store.Event, error)
	// Host is the agent's part of the host summary (version, start, the
	// OS's hostname); the portal fills in the machine's facts from the
	// system probe's latest report.
	Host() Host
	// DropInProblems lists the drop-ins of the probes folder the agent
	// does not run as they now are, and why.
	DropInProblems() []DropInProblem
}

// DropInProblem is a drop-in probe (or the whole probes folder) the agent
// refused as it now is: bad TOML, a bad module, a checksum that does not
// match, a name already taken, a file or folder it does not trust.
type DropInProblem struct {
	File  string `json:"file"`           // the file at fault
	Line  int    `json:"line,omitempty"` // its line, when the error has one
	Error string `json:"error"`          // as the log says it, file and line first
	// Probe is the probe whose previous version keeps running while this
	// version is refused; "" when none runs from this drop-in.
	Probe string    `json:"probe,omitempty"`
	Since time.Time `json:"since"` // when this version was refused
}

// Host summarises the machine and the agent running on it.
type Host struct {
	Hostname        string    `json:"hostname"`
	OS              string    `json:"os"`
	Platform        string    `json:"platform"`
	PlatformVersion string    `json:"platform_version,omitempty"`
	Kernel          string    `json:"kernel"`
	Arch            string    `json:"arch,omitempty"`
	UptimeSeconds   uint64    `json:"uptime_seconds"`
	BootTime        time.Time `json:"boot_time"`
	CPUs            int       `json:"cpus"`
	AgentVersion    string    `json:"agent_version"`
	StartedAt       time.Time `json:"started_at"`
}

// Config is the [portal] part of the agent's configuration.
type Config struct {
	Listen  string // host:port; "127.0.0.1:0" picks a free port (see Addr)
	Token   string // when set, every route but /healthz needs "Authorization: Bearer <Token>"
	TLSCert string // PEM files; TLS is served when both are set
	TLSKey  string
	// Actions grants POST /api/v1/actions (actions.go); the zero value
	// grants nothing.
	Actions Actions
	// Collectors are added to /metrics beside the portal's own: the agent's
	// metrics about itself (the store's dropped records, ...).
	Collectors []prometheus.Collector
	// Hosts are names a request's Host may carry, with no Token, beside
	// localhost and IP addresses (hosts.go).
	Hosts []string
	// Alerts serves GET /api/v1/alerts and silences (alerts.go); nil
	// lists nothing.
	Alerts Alerting
	// InsecureNoToken lets Listen bind a non-loopback address with no
	// Token; without it Listen refuses.
	InsecureNoToken bool
	// PProf serves net/http/pprof under /debug/pprof/, only with a Token.
	PProf bool
}

const (
	// drainTimeout bounds how long shutdown waits for in-flight requests.
	drainTimeout = 5 * time.Second
	// slowRequest is logged at warn, as the original portal did.
	slowRequest = time.Second
	// statusEvents is how many recent events /api/v1/status carries.
	statusEvents = 50
)

// Server is the portal. Create it with New.
type Server struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	handler http.Handler
	router  *mux.Router // the routes without middleware, for the OpenAPI test
	cache   cache
	auth    *authState // sessions and failed logins; nil with no token
	metrics http.Handler
	etagTag string // random per process, so ETags from a previous run never match

	mu       sync.Mutex
	listener net.Listener

	// streams counts open /api/v1/stream responses; closing ends them all
	// at shutdown, so they do not hold up the drain.
	streams   streamCount
	closing   chan struct{}
	closeOnce sync.Once

	heavySlots chan struct{} // one token per history request in flight (heavy.go)
}

// New builds a server. It does not listen until Listen or ListenAndServe.
func New(cfg Config, src Source, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, src: src, log: logger, etagTag: randomTag(), closing: make(chan struct{}), heavySlots: make(chan struct{}, maxHeavy)}
	s.cache.init(s)
	if cfg.Token != "" {
		s.auth = newAuthState(cfg.Token, cfg.TLSCert != "" && cfg.TLSKey != "")
	}
	s.metrics = s.metricsHandler()
	s.handler = s.routes()
	return s
}

func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// Handler returns the whole portal, middleware included, for tests and for
// embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the configured address without serving yet, so the caller
// fails fast on a busy port and can read Addr before ListenAndServe.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return nil
	}
	if (s.cfg.TLSCert == "") != (s.cfg.TLSKey == "") {
		return fmt.Errorf("portal: tls needs both a certificate and a key")
	}
	addr := s.cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return fmt.Errorf("portal: listen: %w", err)
	}
	if err := s.checkExposure(ta); err != nil {
		return err
	}
	l, err := net.ListenTCP("tcp", ta)
	if err != nil {
		return fmt.Errorf("portal: listen: %w", err)
	}
	s.listener = l
	return nil
}

// Addr is the bound address (with the real port when Listen was ":0"), or
// "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// headerTimeout is how long a client has to send a request's headers: a
// slow client (slowloris) holds a connection no longer.
const headerTimeout = 10 * time.Second

// ListenAndServe serves until ctx is done, then shuts down gracefully,
// giving in-flight requests up to 5 s. It returns nil after a clean
// shutdown. TLS is used when the config names a certificate and a key.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.listener
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext:       withConn, // stream.go
	}
	tlsOn := s.cfg.TLSCert != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}

	errc := make(chan error, 1)
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(l, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			err = srv.Serve(l)
		}
		errc <- err
	}()
	s.log.Info("portal listening", "addr", l.Addr().String(), "tls", tlsOn, "auth", s.cfg.Token != "")

	select {
	case err := <-errc:
		// Serve only returns early on a real failure (bad certificate,
		// closed listener).
		return fmt.Errorf("portal: serve: %w", err)
	case <-ctx.Done():
	}
	s.closeOnce.Do(func() { close(s.closing) })
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("portal: serve: %w", serr)
	}
	if err != nil {
		// Drain timed out: cut the stragglers rather than hang the agent's exit.
		_ = srv.Close()
		return fmt.Errorf("portal: shutdown: %w", err)
	}
	s.log.Info("portal stopped")
	return nil
}
