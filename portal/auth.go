package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// With a token set, API clients send it as a bearer header, and a browser
// exchanges it once, on the login form, for a session cookie. The cookie is
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// sends it) and Secure under TLS. Every state-changing request made with
// the cookie must also carry the session's CSRF token, which the page reads
// from /api/v1/session; and every POST, whoever sends it, must come from
// the portal's own origin (http.CrossOriginProtection). Failed logins are
// rate-limited per client address and in total.

const (
	sessionCookie = "barbossa_session"
	// sessionTTL is how long a login lasts, however busy the session.
	sessionTTL = 24 * time.Hour
	// maxSessions bounds the sessions kept; a new login beyond it ends the
	// one closest to expiry.
	maxSessions = 1000
	// csrfHeader carries the session's CSRF token on a script's request;
	// a form sends it as the field csrfField.
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf"

	// Failed logins: at most loginFailuresPerAddr from one address and
	// loginFailuresTotal from everyone within loginWindow; beyond that a
	// login is refused (429) until the oldest failure leaves the window,
	// without the token being compared.
	loginWindow          = time.Minute
	loginFailuresPerAddr = 5
	loginFailuresTotal   = 50
	// maxLoginBody bounds a login form: a token and a CSRF field.
	maxLoginBody = 8 << 10
)

// session is one browser's login.
type session struct {
	csrf    string
	expires time.Time
}

// authState holds the sessions and the failed-login record.
type authState struct {
	token [32]byte // SHA-256 of the configured token
	tls   bool     // cookies are Secure

	mu       sync.Mutex
	sessions map[[32]byte]*session // by SHA-256 of the cookie's value
	failures map[string][]time.Time
	total    []time.Time
}

func newAuthState(token string, tls bool) *authState {
	return &authState{
		token:    sha256.Sum256([]byte(token)),
		tls:      tls,
		sessions: map[[32]byte]*session{},
		failures: map[string][]time.Time{},
	}
}

// tokenMatches compares a presented token with the configured one in
// constant time. Both sides are hashed first, so not even the length of
// the token leaks through timing.
func (a *authState) tokenMatches(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newSession starts a session and returns the cookie's value.
func (a *authState) newSession(now time.Time) (string, *session) {
	id := randomToken()
	ss := &session{csrf: randomToken(), expires: now.Add(sessionTTL)}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prune(now)
	if len(a.sessions) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range a.sessions {
			if at.IsZero() || v.expires.Before(at) {
				oldest, at = k, v.expires
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[sha256.Sum256([]byte(id))] = ss
	return id, ss
}

// prune drops expired sessions and failures that left the window. The
// caller holds mu.
func (a *authState) prune(now time.Time) {
	for k, v := range a.sessions {
		if !now.Before(v.expires) {
			delete(a.sessions, k)
		}
	}
	for k, v := range a.failures {
		if v = recent(v, now); len(v) == 0 {
			delete(a.failures, k)
		} else {
			a.failures[k] = v
		}
	}
	a.total = recent(a.total, now)
}

// recent keeps the times within loginWindow before now.
func recent(ts []time.Time, now time.Time) []time.Time {
	cut := now.Add(-loginWindow)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	return ts[i:]
}

// session returns the live session a cookie value names, or nil.
func (a *authState) session(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(id))
	ss := a.sessions[k]
	if ss == nil {
		return nil
	}
	if !now.Before(ss.expires) {
		delete(a.sessions, k)
		return nil
	}
	return ss
}

func (a *authState) endSession(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, sha256.Sum256([]byte(id)))
}

// loginBlocked says how long addr must wait before its next try, or 0.
func (a *authState) loginBlocked(addr string, now time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prune(now)
	var wait time.Duration
	if f := a.failures[addr]; len(f) >= loginFailuresPerAddr {
		wait = f[len(f)-loginFailuresPerAddr].Add(loginWindow).Sub(now)
	}
	if len(a.total) >= loginFailuresTotal {
		wait = max(wait, a.total[len(a.total)-loginFailuresTotal].Add(loginWindow).Sub(now))
	}
	return wait
}

// loginFailed records a failed login from addr. The record is bounded:
// addresses beyond maxSessions share the total limit only.
func (a *authState) loginFailed(addr string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.failures[addr]; ok || len(a.failures) < maxSessions {
		a.failures[addr] = append(a.failures[addr], now)
	}
	a.total = append(a.total, now)
}

// clientAddr is the address a request came from, without its port: the
// unit failed logins are counted in.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authKind says how a request proved itself, for /api/v1/session.
type authKind string

const (
	authNone    authKind = "none"    // no token configured
	authBearer  authKind = "bearer"  // Authorization: Bearer
	authSession authKind = "session" // the login cookie
)

type authInfo struct {
	kind    authKind
	session *session
	id      string
}

type authKey struct{}

func authOf(ctx context.Context) authInfo {
	if ai, ok := ctx.Value(authKey{}).(authInfo); ok {
		return ai
	}
	return authInfo{kind: authNone}
}

// openPaths need no credentials: liveness, the login form, and the page's
// static assets (the login form uses them; they hold nothing of the host).
func openPath(p string) bool {
	return p == "/healthz" || p == "/login" || strings.HasPrefix(p, "/static/")
}

var (
	errNoCSRF   = errors.New("missing or wrong CSRF token: a request made with the login cookie must send the session's csrf_token (GET /api/v1/session) in the X-CSRF-Token header")
	errNoBearer = errors.New("missing bearer token")
	errBadToken = errors.New("invalid bearer token")
)

// authenticate lets through a request with the right bearer token or a
// live session cookie (plus, for anything but GET and HEAD, the session's
// CSRF token). Without either, a browser asking for the page is sent to the
// login form, anything else gets a 401. With no token configured every
// request passes.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	a := s.auth
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if h := r.Header.Get("Authorization"); h != "" {
			got, ok := bearer(h)
			if !ok || !a.tokenMatches(got) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="barbossa"`)
				err := errBadToken
				if !ok {
					err = errNoBearer
				}
				writeError(w, r, http.StatusUnauthorized, err, "")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, authInfo{kind: authBearer})))
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil {
			if ss := a.session(c.Value, time.Now()); ss != nil {
				if r.Method != http.MethodGet && r.Method != http.MethodHead && !csrfMatches(r, ss) {
					writeError(w, r, http.StatusForbidden, errNoCSRF, "")
					return
				}
				ai := authInfo{kind: authSession, session: ss, id: c.Value}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, ai)))
				return
			}
		}
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="barbossa"`)
		writeError(w, r, http.StatusUnauthorized, errNoBearer, "")
	})
}

// csrfMatches checks a cookie-authenticated request's CSRF token, from
// the header or (a plain form) the form field, in constant time.
func csrfMatches(r *http.Request, ss *session) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, maxLoginBody)
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// sameOrigin refuses state-changing requests that a browser marks as coming
// from another origin (Sec-Fetch-Site, or Origin against Host): the CSRF
// guard that also holds with no token and no session.
func sameOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusForbidden, errors.New("cross-origin request refused: a state-changing request must come from the portal's own page"), "")
	}))
	return cop.Handler(next)
}

// handleLoginPage serves the login form; with no token there is nothing
// to log in to.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

// handleLogin exchanges the token, posted from the login form, for a
// session cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a, now, addr := s.auth, time.Now(), clientAddr(r)
	if wait := a.loginBlocked(addr, now); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("login refused: too many failures", "remote", r.RemoteAddr, "retry_after_s", secs)
		s.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed logins. Try again in "+strconv.Itoa(secs)+" s.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	if !a.tokenMatches(r.PostForm.Get("token")) {
		a.loginFailed(addr, now)
		s.log.Warn("login failed", "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, "Wrong token.")
		return
	}
	id, _ := a.newSession(now)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		Expires: now.Add(sessionTTL), MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: a.tls,
	})
	s.log.Info("login", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogout ends the session (the authenticate middleware has checked
// its CSRF token) and clears the cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if ai := authOf(r.Context()); ai.kind == authSession {
		s.auth.endSession(ai.id)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.auth != nil && s.auth.tls,
	})
	target := "/login"
	if s.cfg.Token == "" {
		target = "/"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// sessionBody is /api/v1/session: how this request is authenticated and
// what the page may offer.
type sessionBody struct {
	// Auth is none (no token configured), bearer or session.
	Auth string `json:"auth"`
	// CSRFToken is the session's, to send as X-CSRF-Token; only for auth
	// session.
	CSRFToken string `json:"csrf_token,omitempty"`
	// Actions is what POST /api/v1/actions may do here.
	Actions actionsInfo `json:"actions"`
}

type actionsInfo struct {
	// Enabled is false when no action can run: no token is configured, or
	// nothing is granted.
	Enabled    bool     `json:"enabled"`
	Units      []string `json:"units"`
	Containers []string `json:"containers"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	ai := authOf(r.Context())
	g := s.cfg.Actions
	b := sessionBody{
		Auth: string(ai.kind),
		Actions: actionsInfo{
			Enabled:    s.cfg.Token != "" && g.Actor != nil && len(g.Units)+len(g.Containers) > 0,
			Units:      nonNil(g.Units),
			Containers: nonNil(g.Containers),
		},
	}
	if ai.session != nil {
		b.CSRFToken = ai.session.csrf
	}
	writeJSON(w, r, http.StatusOK, b)
}
