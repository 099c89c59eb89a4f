package hostfuncs

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

func TestSelectFields(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"Id":"a","State":{"Status":"running"},"HostConfig":{"x":1},"RestartCount":2}`, `{"Id":"a","State":{"Status":"running"},"RestartCount":2}`},
		{` [{"Id":"a","Names":["/x"]},{"Id":"b","Mounts":[]}] `, `[{"Id":"a"},{"Id":"b"}]`},
		{`[1,2]`, `[1,2]`},                 // not objects: unchanged
		{`{"Id": broken`, `{"Id": broken`}, // not JSON: unchanged
		{`plain text`, `plain text`},
		{``, ``},
	} {
		if got := string(selectFields([]byte(tc.body), []string{"Id", "State", "RestartCount"})); got != tc.want {
			t.Errorf("selectFields(%s) = %s, want %s", tc.body, got, tc.want)
		}
	}
}

func TestHTTPFields(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keep":1,"drop":{"big":"xxxxxxxx"}}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c, _ := newCaller(t, Grants{HTTP: []string{"unix://" + sock}})
	var r sdk.HTTPResponse
	if e := call(t, c, ctxTimeout(t, 10*time.Second), "http", sdk.HTTPRequest{Socket: sock, URL: "/x", Fields: []string{"keep"}}, &r); e != "" || r.Body != `{"keep":1}` {
		t.Errorf("fields: %q %q", r.Body, e)
	}
}
