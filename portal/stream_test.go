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

// TestStreamTiming checks when events go out, on a fake clock: at once, the
// instant data changes (the stream wakes on the change, it does not poll),
// and with no change only a keep-alive every 15 s: the snapshot's rebuild
// at its age bound is not news.
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
			at   time.Duration
			kind string // the event's name, or "keep-alive"
			id   string
		}
		got := func() event {
			ev := nextEvent(t, events, time.Minute)
			if ev.fields[""] == "keep-alive" {
				return event{ev.at.Sub(t0), "keep-alive", ""}
			}
			return event{ev.at.Sub(t0), ev.fields["event"], ev.fields["id"]}
		}
		if ev := got(); ev != (event{0, "status", "0"}) {
			t.Errorf("first event %+v; want status 0 at once", ev)
		}
		time.Sleep(1234 * time.Millisecond)
		f.bump()
		if ev, want := got(), (event{1234 * time.Millisecond, "status", "1"}); ev != want {
			t.Errorf("after a change at 1.234s: %+v; want %+v", ev, want)
		}
		// Two changes in a row: the stream ends on the latest at once. (The
		// stream's goroutine may run between the two bumps — goroutines run
		// in parallel under synctest; only time is fake — so the first may
		// be sent on its own, at the same instant.)
		time.Sleep(time.Second)
		f.bump()
		f.bump()
		ev := got()
		if ev == (event{2234 * time.Millisecond, "status", "2"}) {
			ev = got()
		}
		if want := (event{2234 * time.Millisecond, "status", "3"}); ev != want {
			t.Errorf("after two changes at 2.234s: %+v; want %+v (the latest)", ev, want)
		}
		// Nothing changes: keep-alives 15 s after the last write, though
		// the snapshot is rebuilt every 10 s meanwhile.
		for i := range 2 {
			want := event{2234*time.Millisecond + time.Duration(i+1)*streamKeepAlive, "keep-alive", ""}
			if ev := got(); ev != want {
				t.Errorf("idle stream, event %d: %+v; want %+v", i, ev, want)
			}
		}
		f.bump()
		if ev, want := got(), (event{2234*time.Millisecond + 2*streamKeepAlive, "status", "4"}); ev != want {
			t.Errorf("after the keep-alives: %+v; want %+v", ev, want)
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
