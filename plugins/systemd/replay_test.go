package systemd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

// exchange is one host call as recorded from a real system: testdata/replay.json
// holds a whole run, so the golden test runs Collect itself on it.
type exchange struct {
	Func     string          `json:"func"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

// recorder passes host calls on and keeps them.
type recorder struct {
	next sdk.Transport
	mu   sync.Mutex
	log  []exchange
}

func (r *recorder) Call(ctx context.Context, fn string, req []byte) ([]byte, error) {
	resp, err := r.next.Call(ctx, fn, req)
	if err == nil {
		r.mu.Lock()
		r.log = append(r.log, exchange{fn, normalize(req), resp})
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) Log(level sdk.Level, msg string) { r.next.Log(level, msg) }

func (r *recorder) save(t testing.TB, file string) {
	b, err := json.MarshalIndent(r.log, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replay answers host calls from a recording, matched on the request
// without its timeouts.
type replay map[string]json.RawMessage

func loadReplay(t testing.TB, file string) replay {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var log []exchange
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	r := replay{}
	for _, e := range log {
		r[e.Func+" "+string(normalize(e.Request))] = e.Response
	}
	return r
}

func (r replay) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	if resp, ok := r[fn+" "+string(normalize(req))]; ok {
		return resp, nil
	}
	return nil, fmt.Errorf("replay: no recorded response to %s %s", fn, normalize(req))
}

func (replay) Log(sdk.Level, string) {}

// normalize drops timeout_ms (top level and in batch items), which depend
// on the clock, and re-encodes with sorted keys.
func normalize(req []byte) json.RawMessage {
	var v map[string]any
	if err := json.Unmarshal(req, &v); err != nil {
		return req
	}
	delete(v, "timeout_ms")
	if items, ok := v["batch"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				delete(m, "timeout_ms")
			}
		}
	}
	b, _ := json.Marshal(v)
	return b
}
