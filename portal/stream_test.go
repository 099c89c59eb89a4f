package portal

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
	events := make(chan map[string]string, 8)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		ev := map[string]string{}
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				events <- ev
				ev = map[string]string{}
				continue
			}
			if k, v, ok := strings.Cut(line, ": "); ok {
				ev[k] = v
			}
		}
	}()
	next := func() map[string]string {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return nil
	}
	first := next()
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
	if ev := next(); ev["id"] != "1" {
		t.Errorf("after a change: event %v, want id 1", ev)
	}
	// Shutdown ends open streams rather than waiting out the drain.
	began := time.Now()
	if err := stop(); err != nil {
		t.Errorf("shutdown with an open stream: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("shutdown took %s with a stream open", took)
	}
}
