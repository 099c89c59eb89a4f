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
// that holds each request for 300 ms: run one after another they would take
// 2.4 s; the host runs them together.
func TestBatch(t *testing.T) {
	var inFlight, peak atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/slow/", func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
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
	ctx := ctxTimeout(t, 20*time.Second)

	reqs := []sdk.HTTPRequest{}
	for i := range 8 {
		reqs = append(reqs, sdk.HTTPRequest{Socket: sock, URL: fmt.Sprintf("/slow/%d", i)})
	}
	reqs = append(reqs, sdk.HTTPRequest{Socket: "/var/run/docker.sock", URL: "/containers/json"})
	start := time.Now()
	var out abi.BatchResponse
	if e := call(t, c, ctx, "http", abi.BatchRequest[sdk.HTTPRequest]{Batch: reqs}, &out); e != "" {
		t.Fatal(e)
	}
	took := time.Since(start)
	if len(out.Batch) != len(reqs) {
		t.Fatalf("%d responses for %d requests", len(out.Batch), len(reqs))
	}
	for i := range 8 {
		var r sdk.HTTPResponse
		if err := json.Unmarshal(out.Batch[i], &r); err != nil || r.Status != 200 || r.Body != fmt.Sprintf("/slow/%d", i) {
			t.Errorf("response %d out of order or wrong: %s", i, out.Batch[i])
		}
	}
	var denied abi.ErrorResponse
	json.Unmarshal(out.Batch[8], &denied)
	if !strings.HasPrefix(denied.Error, "denied: http GET of /containers/json over socket") || c.Denied() != 1 {
		t.Errorf("denied item: %s, Denied() = %d", out.Batch[8], c.Denied())
	}
	if peak.Load() < 2 || took > 2*time.Second {
		t.Errorf("batch of 8 x 300 ms took %s with at most %d requests at once: not concurrent", took, peak.Load())
	}

	// The envelope's timeout_ms cuts every request still running.
	start = time.Now()
	if e := call(t, c, ctx, "http", abi.BatchRequest[sdk.HTTPRequest]{
		Batch:     []sdk.HTTPRequest{{Socket: sock, URL: "/hang"}, {Socket: sock, URL: "/slow/x"}},
		TimeoutMS: 100,
	}, &out); e != "" {
		t.Fatal(e)
	}
	for i, raw := range out.Batch {
		var e abi.ErrorResponse
		json.Unmarshal(raw, &e)
		if !strings.HasPrefix(e.Error, "timeout: http GET") {
			t.Errorf("item %d after the batch timeout: %s", i, raw)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("a batch with timeout_ms 100 took %s", time.Since(start))
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
