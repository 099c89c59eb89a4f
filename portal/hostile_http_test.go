package portal

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestSlowlorisCutAtTheHeaderTimeout is the slowloris attack: a client
// that sends a header line a second, never finishing its request, holds a
// connection only until the header timeout, to the instant on the fake
// clock, and is sent nothing.
func TestSlowlorisCutAtTheHeaderTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, _ := startPiped(t, Config{Token: "s3cret"}, newFake())
		conn, err := s.listener.(*pipeListener).dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		writer := make(chan struct{})
		go func() {
			defer close(writer)
			if _, err := io.WriteString(conn, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
				return
			}
			for i := 0; ; i++ {
				time.Sleep(time.Second) // the attack's pace, on the bubble's clock
				if _, err := fmt.Fprintf(conn, "X-Slow-%d: 1\r\n", i); err != nil {
					return
				}
			}
		}()
		got, err := io.ReadAll(conn)
		took := time.Since(start)
		conn.Close()
		<-writer
		if took != headerTimeout {
			t.Errorf("the slow client was cut after %s, want the header timeout, %s", took, headerTimeout)
		}
		if len(got) != 0 || err != nil {
			t.Errorf("the slow client got %q, %v; want the connection closed with nothing sent", got, err)
		}
	})
}

// TestNoCrossOriginReads: the portal sends no CORS headers, so a page on
// another origin cannot read its answers, even in a browser holding a
// session, and a preflight grants no method.
func TestNoCrossOriginReads(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		h := newTestServer(t, newFake(), token)
		b := &browser{t: t, h: h, addr: "127.0.0.1:5000"}
		if token != "" {
			wantStatus(t, b.login(token), http.StatusSeeOther)
		}
		const evil = "http://evil.example"
		for what, rec := range map[string]*httptest.ResponseRecorder{
			"GET /api/v1/status":              b.do(http.MethodGet, "/api/v1/status", "", "Origin", evil, "Sec-Fetch-Site", "cross-site"),
			"GET /api/v1/status, Origin null": b.do(http.MethodGet, "/api/v1/status", "", "Origin", "null"),
			"OPTIONS /api/v1/actions": b.do(http.MethodOptions, "/api/v1/actions", "", "Origin", evil,
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type"),
			"OPTIONS /api/v1/silences": b.do(http.MethodOptions, "/api/v1/silences", "", "Origin", evil,
				"Access-Control-Request-Method", "DELETE"),
		} {
			for k, v := range rec.Result().Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("token %q, %s: answered with %s: %q", token, what, k, v)
				}
			}
			if strings.HasPrefix(what, "OPTIONS") && rec.Code < 300 {
				t.Errorf("token %q, %s: preflight answered %d", token, what, rec.Code)
			}
		}
	}
}
