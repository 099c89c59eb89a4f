package portal

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// browser is a client of a handler that keeps the session cookie, as a
// browser does, and follows no redirects.
type browser struct {
	t      *testing.T
	h      http.Handler
	addr   string
	cookie *http.Cookie
}

func (b *browser) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	b.t.Helper()
	req := localRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = b.addr
	if method == http.MethodPost && body != "" && !strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	return rec
}

func (b *browser) login(token string) *httptest.ResponseRecorder {
	b.t.Helper()
	return b.do(http.MethodPost, "/login", "token="+url.QueryEscape(token))
}

func (b *browser) csrf() string {
	b.t.Helper()
	var s sessionBody
	decode(b.t, b.do(http.MethodGet, "/api/v1/session", ""), &s)
	return s.CSRFToken
}

func TestLoginFlow(t *testing.T) {
	actor := &fakeActor{res: ActionResult{Result: "done"}}
	h := New(Config{Token: "s3cret", Actions: Actions{Containers: []string{"web"}, Actor: actor}}, newFake(), nil).Handler()
	b := &browser{t: t, h: h, addr: "192.0.2.7:5000"}

	// No session: the page sends the browser to the form, the API says 401.
	rec := b.do(http.MethodGet, "/", "")
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/login" {
		t.Errorf("redirect to %q", rec.Header().Get("Location"))
	}
	wantStatus(t, b.do(http.MethodGet, "/api/v1/status", ""), http.StatusUnauthorized)
	form := b.do(http.MethodGet, "/login", "")
	wantStatus(t, form, http.StatusOK)
	if !strings.Contains(form.Body.String(), `name="token"`) || !strings.Contains(form.Header().Get("Content-Security-Policy"), "form-action 'self'") {
		t.Errorf("login form %s, CSP %q", form.Body, form.Header().Get("Content-Security-Policy"))
	}
	// Its stylesheet loads without a session.
	wantStatus(t, b.do(http.MethodGet, "/static/app.css", ""), http.StatusOK)

	// A wrong token: the form again, with the reason, and no cookie.
	rec = b.login("nope")
	wantStatus(t, rec, http.StatusUnauthorized)
	if !strings.Contains(rec.Body.String(), "Wrong token.") || b.cookie != nil {
		t.Errorf("wrong token: body %s, cookie %v", rec.Body, b.cookie)
	}

	// The right token: a session cookie the page's script cannot read and
	// no other site's page sends.
	rec = b.login("s3cret")
	wantStatus(t, rec, http.StatusSeeOther)
	c := b.cookie
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || len(c.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure without TLS, a long random value", c)
	}
	wantStatus(t, b.do(http.MethodGet, "/", ""), http.StatusOK)
	wantStatus(t, b.do(http.MethodGet, "/api/v1/status", ""), http.StatusOK)
	var sess sessionBody
	decode(t, b.do(http.MethodGet, "/api/v1/session", ""), &sess)
	if sess.Auth != "session" || len(sess.CSRFToken) < 40 || !sess.Actions.Enabled || sess.Actions.Containers[0] != "web" {
		t.Errorf("session %+v", sess)
	}

	// A POST with the cookie needs the CSRF token too.
	action := `{"kind":"container","target":"web","action":"restart"}`
	rec = b.do(http.MethodPost, "/api/v1/actions", action)
	wantStatus(t, rec, http.StatusForbidden)
	if !strings.Contains(rec.Body.String(), "CSRF") || len(actor.got) != 0 {
		t.Errorf("no CSRF token: %s, actor called %d times", rec.Body, len(actor.got))
	}
	wantStatus(t, b.do(http.MethodPost, "/api/v1/actions", action, csrfHeader, sess.CSRFToken+"x"), http.StatusForbidden)
	wantStatus(t, b.do(http.MethodPost, "/api/v1/actions", action, csrfHeader, sess.CSRFToken), http.StatusOK)
	if len(actor.got) != 1 {
		t.Errorf("actor called %d times, want 1", len(actor.got))
	}
	// Even with both, a request another site's page makes is refused.
	rec = b.do(http.MethodPost, "/api/v1/actions", action, csrfHeader, sess.CSRFToken, "Sec-Fetch-Site", "cross-site")
	wantStatus(t, rec, http.StatusForbidden)
	if !strings.Contains(rec.Body.String(), "cross-origin") || len(actor.got) != 1 {
		t.Errorf("cross-site: %s, actor called %d times", rec.Body, len(actor.got))
	}

	// Bearer keeps working for API clients, with no CSRF token.
	api := &browser{t: t, h: h, addr: "192.0.2.8:5000"}
	var bs sessionBody
	decode(t, api.do(http.MethodGet, "/api/v1/session", "", "Authorization", "Bearer s3cret"), &bs)
	if bs.Auth != "bearer" || bs.CSRFToken != "" {
		t.Errorf("bearer session %+v", bs)
	}
	wantStatus(t, api.do(http.MethodPost, "/api/v1/actions", action, "Authorization", "Bearer s3cret"), http.StatusOK)

	// Logout needs the CSRF token (a form field here), ends the session
	// and clears the cookie.
	old := b.cookie
	wantStatus(t, b.do(http.MethodPost, "/logout", "x=1"), http.StatusForbidden)
	rec = b.do(http.MethodPost, "/logout", "csrf="+url.QueryEscape(sess.CSRFToken))
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/login" || b.cookie != nil {
		t.Errorf("logout: to %q, cookie %v", rec.Header().Get("Location"), b.cookie)
	}
	b.cookie = old // a stolen copy of the cookie is dead too
	wantStatus(t, b.do(http.MethodGet, "/api/v1/status", ""), http.StatusUnauthorized)
}

func TestLoginWithoutToken(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	b := &browser{t: t, h: h, addr: "127.0.0.1:5000"}
	rec := b.do(http.MethodGet, "/login", "")
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/" {
		t.Errorf("redirect to %q", rec.Header().Get("Location"))
	}
	var s sessionBody
	decode(t, b.do(http.MethodGet, "/api/v1/session", ""), &s)
	if s.Auth != "none" || s.Actions.Enabled {
		t.Errorf("session with no token %+v: actions need a token", s)
	}
	// Cross-origin POSTs are refused with no token too.
	rec = b.do(http.MethodPost, "/api/v1/actions", `{}`, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site")
	wantStatus(t, rec, http.StatusForbidden)
}

func TestSecureCookieUnderTLS(t *testing.T) {
	h := New(Config{Token: "s3cret", TLSCert: "c.pem", TLSKey: "k.pem"}, newFake(), nil).Handler()
	b := &browser{t: t, h: h, addr: "192.0.2.7:5000"}
	wantStatus(t, b.login("s3cret"), http.StatusSeeOther)
	if b.cookie == nil || !b.cookie.Secure {
		t.Errorf("cookie %+v under TLS: want Secure", b.cookie)
	}
}

// TestLoginRateLimit: five failures from one address within a minute lock
// that address out until the oldest is a minute old, whatever it sends,
// while others still log in; fifty in total lock everyone out.
func TestLoginRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{Token: "s3cret"}, newFake(), nil).Handler()
		a := &browser{t: t, h: h, addr: "192.0.2.7:5000"}
		start := time.Now()
		for i := range loginFailuresPerAddr {
			wantStatus(t, a.login("guess"), http.StatusUnauthorized)
			if i < loginFailuresPerAddr-1 {
				time.Sleep(time.Second)
			}
		}
		// 4 s in: the oldest failure leaves the window at 60 s.
		rec := a.login("s3cret")
		wantStatus(t, rec, http.StatusTooManyRequests)
		if ra := rec.Header().Get("Retry-After"); ra != "56" {
			t.Errorf("Retry-After %q, want 56", ra)
		}
		if a.cookie != nil || !strings.Contains(rec.Body.String(), "Too many failed logins") {
			t.Errorf("locked out: cookie %v, body %s", a.cookie, rec.Body)
		}
		// Another address is not locked out (a port is not an address).
		other := &browser{t: t, h: h, addr: "192.0.2.8:6000"}
		wantStatus(t, other.login("s3cret"), http.StatusSeeOther)
		same := &browser{t: t, h: h, addr: "192.0.2.7:7000"}
		wantStatus(t, same.login("s3cret"), http.StatusTooManyRequests)

		time.Sleep(start.Add(loginWindow).Sub(time.Now()) - time.Millisecond)
		wantStatus(t, a.login("s3cret"), http.StatusTooManyRequests)
		time.Sleep(time.Millisecond)
		wantStatus(t, a.login("s3cret"), http.StatusSeeOther)

		// Fifty failures from fifty addresses lock out everyone.
		time.Sleep(loginWindow) // the earlier failures leave the window
		for i := range loginFailuresTotal {
			c := &browser{t: t, h: h, addr: "198.51.100." + itoa(i) + ":1"}
			wantStatus(t, c.login("guess"), http.StatusUnauthorized)
		}
		fresh := &browser{t: t, h: h, addr: "203.0.113.1:1"}
		rec = fresh.login("s3cret")
		wantStatus(t, rec, http.StatusTooManyRequests)
		if ra := rec.Header().Get("Retry-After"); ra != "60" {
			t.Errorf("total limit: Retry-After %q, want 60", ra)
		}
		time.Sleep(loginWindow)
		wantStatus(t, fresh.login("s3cret"), http.StatusSeeOther)
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSessionExpires: a login lasts 24 hours, however busy.
func TestSessionExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(Config{Token: "s3cret"}, newFake(), nil).Handler()
		b := &browser{t: t, h: h, addr: "192.0.2.7:5000"}
		wantStatus(t, b.login("s3cret"), http.StatusSeeOther)
		time.Sleep(sessionTTL - time.Second)
		wantStatus(t, b.do(http.MethodGet, "/api/v1/status", ""), http.StatusOK)
		time.Sleep(time.Second)
		wantStatus(t, b.do(http.MethodGet, "/api/v1/status", ""), http.StatusUnauthorized)
		rec := b.do(http.MethodGet, "/", "")
		wantStatus(t, rec, http.StatusSeeOther)
	})
}

// TestLoginBodyBounded: a login form over 8 KiB is refused without being
// read whole.
func TestLoginBodyBounded(t *testing.T) {
	h := New(Config{Token: "s3cret"}, newFake(), nil).Handler()
	b := &browser{t: t, h: h, addr: "192.0.2.7:5000"}
	rec := b.login(strings.Repeat("x", 10<<10))
	wantStatus(t, rec, http.StatusBadRequest)
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "could not be read") {
		t.Errorf("body %s", body)
	}
}
