package portal

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// sse is one server-sent event: its fields, and when it arrived.
type sse struct {
	fields map[string]string
	at     time.Time
}

// readEvents parses a stream's events into a channel, closed at its end.
func readEvents(body io.Reader) <-chan sse {
	events := make(chan sse, 8)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 1<<20)
		ev := map[string]string{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				events <- sse{ev, time.Now()}
				ev = map[string]string{}
				continue
			}
			if k, v, ok := strings.Cut(line, ": "); ok {
				ev[k] = v
			}
		}
	}()
	return events
}

// nextEvent waits for the next event, for at most within.
func nextEvent(t *testing.T, events <-chan sse, within time.Duration) sse {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return sse{}
}

func TestStreamSendsStatusOnChange(t *testing.T) {
	f := newFake()
	s, stop := start(t, Config{}, f)
	resp, err := http.Get("http://" + s.Addr() + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content-type %q", ct)
	}
	events := readEvents(resp.Body)
	first := nextEvent(t, events, 10*time.Second).fields
	if first["event"] != "status" || first["id"] != "0" {
		t.Fatalf("first event = %v", first)
	}
	var st struct {
		Probes []struct{ Name string } `json:"probes"`
	}
	if err := json.Unmarshal([]byte(first["data"]), &st); err != nil || len(st.Probes) != 4 {
		t.Fatalf("status data: %v, %d probes", err, len(st.Probes))
	}
	f.bump()
	if ev := nextEvent(t, events, 10*time.Second).fields; ev["id"] != "1" {
		t.Errorf("after a change: event %v, want id 1", ev)
	}
	// Shutdown ends open streams rather than waiting out the drain.
	if err := stop(); err != nil {
		t.Errorf("shutdown with an open stream: %v", err)
	}
}

// TestStreamTiming checks when events go out, on a fake clock: at once, at
// the first poll after a change, and again when the snapshot reaches its age
// bound without one (a probe may have turned stale meanwhile).
func TestStreamTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		_, client, stop := startPiped(t, Config{}, f)
		t0 := time.Now()
		resp, err := client.Get("http://localhost/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := readEvents(resp.Body)
		type event struct {
			at time.Duration
			id string
		}
		got := func() event {
			ev := nextEvent(t, events, time.Minute)
			if ev.fields["event"] != "status" {
				t.Errorf("event %v, want a status event", ev.fields)
			}
			return event{ev.at.Sub(t0), ev.fields["id"]}
		}
		if ev := got(); ev != (event{0, "0"}) {
			t.Errorf("first event %+v; want id 0 at once", ev)
		}
		time.Sleep(1200 * time.Millisecond)
		f.bump()
		// Polls are every 500 ms from the stream's start.
		if ev, want := got(), (event{1500 * time.Millisecond, "1"}); ev != want {
			t.Errorf("after a change at 1.2s: %+v; want %+v", ev, want)
		}
		if ev, want := got(), (event{1500*time.Millisecond + maxSnapshotAge, "1"}); ev != want {
			t.Errorf("with no change: %+v; want the status again at the age bound, %+v", ev, want)
		}
		// Shutdown ends open streams rather than waiting out the drain.
		began := time.Now()
		if err := stop(); err != nil {
			t.Errorf("shutdown with an open stream: %v", err)
		}
		if took := time.Since(began); took >= drainTimeout {
			t.Errorf("shutdown took %s with a stream open; want it ended, not drained for %s", took, drainTimeout)
		}
	})
}
