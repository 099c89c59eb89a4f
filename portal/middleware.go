package portal

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// The middleware wraps the whole router, not mux's Use, so that 404s and
// 405s go through auth, headers and logging like every other response.

// securityHeaders sets headers every response carries. The page overrides
// the Content-Security-Policy with one that lets it load its stylesheet.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", apiCSP)
		next.ServeHTTP(w, r)
	})
}

const (
	// apiCSP forbids everything: a JSON response rendered by a browser
	// must not run or load anything.
	apiCSP = "default-src 'none'; frame-ancestors 'none'"
	// pageCSP lets the page load its own script and stylesheet and talk to
	// its own origin, and nothing else: no inline script, no other host.
	pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// bearer extracts the token from an Authorization header. The scheme is
// case-insensitive (RFC 9110).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// recoverPanics turns a handler panic into a 500 and a log line, so one bad
// report cannot take the portal down.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("portal: handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if lw, ok := w.(*loggedWriter); !ok || lw.status == 0 {
				writeError(w, r, http.StatusInternalServerError, errors.New("internal error"), "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// logRequests logs every request at debug and slow ones at warn.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		lw := &loggedWriter{ResponseWriter: w}
		defer func() {
			d := time.Since(start)
			level := slog.LevelDebug
			// A stream is long by design, and an export by size.
			if d > slowRequest && r.URL.Path != "/api/v1/stream" && r.URL.Path != "/api/v1/export" {
				level = slog.LevelWarn
			}
			if !log.Enabled(r.Context(), level) {
				return
			}
			status := lw.status
			if status == 0 {
				status = http.StatusOK
			}
			log.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", status,
				"bytes", lw.bytes, "duration", d, "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(lw, r)
	})
}

// loggedWriter records the status and size of a response.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *loggedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Flush lets streaming handlers (server-sent events) flush through the wrapper.
func (w *loggedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
