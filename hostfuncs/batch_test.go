package hostfuncs

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

// TestBatch sends one batch of HTTP requests over a unix socket to a server
// that holds each request until all 8 have arrived: run one after another
// the first would never be answered (it is cut at the batch's deadline);
// the host runs them together.
func TestBatch(t *testing.T) {
	const n = 8
	var arrived atomic.Int32
	all := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte(r.URL.Path))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	c, _ := newCaller(t, Grants{HTTP: []string{"unix://" + sock}})
	// Were the requests run one after another, the first would wait for
	// the others until this deadline cut it.
	ctx := ctxTimeout(t, 20*time.Second)

	reqs := []sdk.HTTPRequest{}
	for i := range n {
		reqs = append(reqs, sdk.HTTPRequest{Socket: sock, URL: fmt.Sprintf("/slow/%d", i)})
	}
	reqs = append(reqs, sdk.HTTPRequest{Socket: "/var/run/docker.sock", URL: "/containers/json"})
	var out abi.BatchResponse
	if e := call(t, c, ctx, "http", abi.BatchRequest[sdk.HTTPRequest]{Batch: reqs}, &out); e != "" {
		t.Fatal(e)
	}
	if len(out.Batch) != len(reqs) {
		t.Fatalf("%d responses for %d requests", len(out.Batch), len(reqs))
	}
	for i := range n {
		var r sdk.HTTPResponse
		if err := json.Unmarshal(out.Batch[i], &r); err != nil || r.Status != 200 || r.Body != fmt.Sprintf("/slow/%d", i) {
			t.Errorf("response %d out of order or wrong: %s", i, out.Batch[i])
		}
	}
	var denied abi.ErrorResponse
	json.Unmarshal(out.Batch[n], &denied)
	if !strings.HasPrefix(denied.Error, "denied: http GET of /containers/json over socket") || c.Denied() != 1 {
		t.Errorf("denied item: %s, Denied() = %d", out.Batch[n], c.Denied())
	}

	// The envelope's timeout_ms, not the run's deadline, cuts every request
	// still running (the server never answers them).
	if e := call(t, c, ctx, "http", abi.BatchRequest[sdk.HTTPRequest]{
		Batch:     []sdk.HTTPRequest{{Socket: sock, URL: "/hang"}, {Socket: sock, URL: "/hang?again"}},
		TimeoutMS: 100,
	}, &out); e != "" {
		t.Fatal(e)
	}
	for i, raw := range out.Batch {
		var e abi.ErrorResponse
		json.Unmarshal(raw, &e)
		var ms int
		if i := strings.LastIndex(e.Error, " after "); i > 0 {
			fmt.Sscanf(e.Error[i:], " after %dms", &ms)
		}
		if !strings.HasPrefix(e.Error, "timeout: http GET") || ms <= 0 || ms > 100 {
			t.Errorf("item %d after the batch timeout: %s", i, raw)
		}
	}

	// Too many requests fail the whole call; an empty batch is empty.
	big := abi.BatchRequest[sdk.HTTPRequest]{Batch: make([]sdk.HTTPRequest, maxBatch+1)}
	if e := call(t, c, ctx, "http", big, nil); !strings.Contains(e, "over the limit of 256") {
		t.Errorf("oversized batch: %q", e)
	}
	if e := call(t, c, ctx, "http", abi.BatchRequest[sdk.HTTPRequest]{Batch: []sdk.HTTPRequest{}}, &out); e != "" || len(out.Batch) != 0 {
		t.Errorf("empty batch: %q %v", e, out.Batch)
	}
	// A plain request mentioning "batch" is still a plain request.
	var r sdk.HTTPResponse
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{Socket: sock, URL: "/slow/batch", Headers: map[string]string{"X": `"batch"`}}, &r); e != "" || r.Body != "/slow/batch" {
		t.Errorf("plain request: %+v %q", r, e)
	}
}
