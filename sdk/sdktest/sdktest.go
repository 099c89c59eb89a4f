// Package sdktest is for probe authors' tests: record a real run's host
// calls once, then replay them in golden tests that need neither the system
// the probe watches nor a WASM host.
//
// Recording wraps the transport that reaches the real system (in an
// integration test, hostfuncs' caller with the probe's grants):
//
//	rec := &sdktest.Recorder{Next: caller}
//	defer sdk.SetTransport(sdk.SetTransport(rec))
//	if _, err := myprobe.New().Collect(ctx, req); err != nil { ... }
//	err := rec.Save("testdata/replay.json")
//
// Replaying answers the same calls from the file, anywhere:
//
//	replay, err := sdktest.LoadReplay("testdata/replay.json")
//	defer sdk.SetTransport(sdk.SetTransport(replay))
//	report, err := myprobe.New().Collect(ctx, req)
//	got, _ := json.MarshalIndent(report, "", " ")
//	sdktest.Golden(t, "testdata/report.golden.json", got, *update)
//
// Calls are matched on their function and request, without timeout_ms
// (it follows the clock), so a probe must send the same requests as when it
// was recorded: a changed request is an error naming it, and the cue to
// record again.
package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Exchange is one host call as recorded: the host function, its request
// and its response, as the JSON documents of docs/ABI.md.
type Exchange struct {
	Func     string          `json:"func"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

// Recorder is an sdk.Transport that passes host calls on to Next and keeps
// those that succeed, in order.
type Recorder struct {
	Next sdk.Transport
	// Calls are the recorded calls, requests without timeout_ms. Edit them
	// before Save to replace what differs between systems (a socket path),
	// once no call is in flight.
	Calls []Exchange
	mu    sync.Mutex
}

var _ sdk.Transport = (*Recorder)(nil)

// Call passes the call on and records it if the transport did not fail.
func (r *Recorder) Call(ctx context.Context, fn string, req []byte) ([]byte, error) {
	resp, err := r.Next.Call(ctx, fn, req)
	if err == nil {
		r.mu.Lock()
		r.Calls = append(r.Calls, Exchange{fn, normalize(req), resp})
		r.mu.Unlock()
	}
	return resp, err
}

// Log passes the probe's log line on.
func (r *Recorder) Log(level sdk.Level, msg string) { r.Next.Log(level, msg) }

// Save writes the recorded calls to file as indented JSON, the format
// LoadReplay reads.
func (r *Recorder) Save(file string) error {
	r.mu.Lock()
	b, err := json.MarshalIndent(r.Calls, "", " ")
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save recording: %w", err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save recording: %w", err)
	}
	return nil
}

// Replay is an sdk.Transport that answers host calls from a recording.
type Replay struct {
	answers map[string]json.RawMessage // func + " " + normalized request
}

var _ sdk.Transport = Replay{}

// LoadReplay reads a recording that Recorder.Save wrote.
func LoadReplay(file string) (Replay, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Replay{}, fmt.Errorf("load replay: %w", err)
	}
	var calls []Exchange
	if err := json.Unmarshal(b, &calls); err != nil {
		return Replay{}, fmt.Errorf("load replay %s: %w", file, err)
	}
	r := Replay{answers: map[string]json.RawMessage{}}
	for _, e := range calls {
		r.answers[e.Func+" "+string(normalize(e.Request))] = e.Response
	}
	return r, nil
}

// Call returns the recorded response to the same function and request
// (timeouts aside), or an error naming the call it has no answer to.
func (r Replay) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	if resp, ok := r.answers[fn+" "+string(normalize(req))]; ok {
		return resp, nil
	}
	return nil, fmt.Errorf("replay: no recorded response to %s %s", fn, normalize(req))
}

// Log drops the probe's log lines.
func (Replay) Log(sdk.Level, string) {}

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

// Golden compares got with the golden file, and fails the test showing got
// when they differ. With update (the test's -update flag, after an intended
// change) it first writes got to the file; review the diff before
// committing it.
func Golden(t testing.TB, file string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the output differs from %s (rerun with -update to accept it, and review the diff):\n%s", file, got)
	}
}
