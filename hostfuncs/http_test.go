package hostfuncs

import (
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// TestHTTPBackslashRefused is the Low finding of issue #8: a backslash in
// a path was not normalised, so "/metrics/..\admin" passed a grant of
// "/metrics/" and reached "/admin" on a server that reads "\" as "/" (as
// IIS and some frameworks do). Such paths, and control characters, are
// refused in requests and in grants.
func TestHTTPBackslashRefused(t *testing.T) {
	var admin atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A server that takes a backslash for a slash.
		p := path.Clean(strings.ReplaceAll(r.URL.Path, `\`, "/"))
		if p == "/admin" {
			admin.Add(1)
		}
		w.Write([]byte(p))
	}))
	defer srv.Close()
	c, _ := newCaller(t, Grants{HTTP: []string{srv.URL + "/metrics", "GET " + srv.URL + " /api/*/json"}})
	ctx := ctxTimeout(t, 10*time.Second)
	for _, u := range []string{
		srv.URL + `/metrics/..\admin`,
		srv.URL + `/metrics/..%5Cadmin`,
		srv.URL + `/metrics/..%5cadmin`,
		srv.URL + `/api/x\..\..\admin\/json`,
		srv.URL + `/metrics/a%00b`,
		srv.URL + `/metrics/a%0d%0aX-Injected: 1`,
	} {
		if e := call(t, c, ctx, "http", sdk.HTTPRequest{URL: u}, nil); !strings.Contains(e, "which servers read differently: refused") {
			t.Errorf("%s: %q", u, e)
		}
	}
	if admin.Load() != 0 {
		t.Errorf("/admin was reached %d times", admin.Load())
	}
	var r sdk.HTTPResponse
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{URL: srv.URL + "/metrics/node"}, &r); e != "" || r.Body != "/metrics/node" {
		t.Errorf("a plain granted path: %+v %q", r, e)
	}
	for _, g := range []string{`http://127.0.0.1:1/a\b`, `GET http://127.0.0.1:1/ /a\*`, "http://127.0.0.1:1/a%00"} {
		if _, err := compile(Grants{HTTP: []string{g}}); err == nil || !strings.Contains(err.Error(), "servers read differently") {
			t.Errorf("grant %q: %v", g, err)
		}
	}
}
