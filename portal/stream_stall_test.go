package portal

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// dialStream connects a client that sends a stream request, over l's
// pipes (which have no buffer: a client that never reads stalls the
// server's first write), and returns its end.
func dialStream(t *testing.T, l *pipeListener) net.Conn {
	t.Helper()
	c, err := l.dial(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	go fmt.Fprint(c, "GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStalledStreamsEvicted fills every stream slot with clients that never
// read, on the fake clock: a new stream is refused until the write deadline
// passes, to the nanosecond, and then the slots are free and it is served.
func TestStalledStreamsEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, _ := startPiped(t, Config{}, newFake())
		l := s.listener.(*pipeListener)
		for range maxStreams {
			dialStream(t, l) // and never read
		}
		synctest.Wait()
		if n := s.streams.Load(); n != maxStreams {
			t.Fatalf("%d streams open, want %d", n, maxStreams)
		}
		if resp := readResponse(t, dialStream(t, l)); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a stream beyond the limit: %d, want 503", resp.StatusCode)
		}

		time.Sleep(streamWriteTimeout - time.Nanosecond)
		synctest.Wait()
		if n := s.streams.Load(); n != maxStreams {
			t.Fatalf("%d streams open just before the write deadline, want %d", n, maxStreams)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := s.streams.Load(); n != 0 {
			t.Fatalf("%d streams open at the write deadline, want 0", n)
		}

		resp := readResponse(t, dialStream(t, l))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a new stream after the stalled ones were cut: %d", resp.StatusCode)
		}
		if ev := nextEvent(t, readEvents(resp.Body), time.Second); ev.fields["event"] != "status" {
			t.Errorf("first event %v", ev.fields)
		}
	})
}

// TestReadingStreamNotEvicted: a client that keeps reading keeps its
// stream past many write deadlines.
func TestReadingStreamNotEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, client, _ := startPiped(t, Config{}, f)
		resp, err := client.Get("http://localhost/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := readEvents(resp.Body)
		n := 0
		for range 10 {
			f.bump()
			for end := time.Now().Add(2 * streamWriteTimeout); time.Now().Before(end); {
				select {
				case <-events:
					n++
				case <-time.After(time.Until(end)):
				}
			}
		}
		if open := s.streams.Load(); open != 1 || n < 11 {
			t.Errorf("after 10 changes over %s: %d streams open, %d events read; want 1 and at least 11", 20*streamWriteTimeout, open, n)
		}
	})
}

// TestShutdownCutsStalledStream: a write stuck on a client that never
// reads ends at once when the portal shuts down, without waiting for the
// write deadline (shutdown's drain is shorter than it).
func TestShutdownCutsStalledStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, _ := startPiped(t, Config{}, newFake())
		dialStream(t, s.listener.(*pipeListener))
		synctest.Wait()
		if n := s.streams.Load(); n != 1 {
			t.Fatalf("%d streams open, want 1", n)
		}
		start := time.Now()
		s.closeOnce.Do(func() { close(s.closing) })
		synctest.Wait()
		if n := s.streams.Load(); n != 0 || time.Since(start) != 0 {
			t.Errorf("after shutdown began: %d streams open, %s passed", n, time.Since(start))
		}
	})
}

func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestStalledStreamsEvictedOverTCP is the attack as made: 64 real TCP
// clients open streams and never read. The status is bigger than what the
// kernel buffers for one connection, so every write stalls; once the
// deadline cuts them, a 65th client is served. It runs on the wall clock,
// ~streamWriteTimeout (10 s): kernel sockets are outside a synctest bubble.
func TestStalledStreamsEvictedOverTCP(t *testing.T) {
	f := newFake()
	f.health[3].LastError = strings.Repeat("x", 256<<10)
	s, _ := start(t, Config{}, f)
	for range maxStreams {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /api/v1/stream HTTP/1.1\r\nHost: %s\r\n\r\n", s.Addr())
	}
	waitUntil(t, 10*time.Second, "64 streams open", func() bool { return s.streams.Load() == maxStreams })
	resp, err := http.Get("http://" + s.Addr() + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a 65th stream while 64 are open: %d, want 503", resp.StatusCode)
	}
	waitUntil(t, 3*streamWriteTimeout, "a 65th stream served", func() bool {
		resp, err := http.Get("http://" + s.Addr() + "/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		ev := nextEvent(t, readEvents(resp.Body), 10*time.Second)
		if ev.fields["event"] != "status" || len(ev.fields["data"]) < 256<<10 {
			t.Fatalf("first event: %q, %d bytes of data", ev.fields["event"], len(ev.fields["data"]))
		}
		return true
	})
}

// waitUntil polls cond on the wall clock, for tests of real sockets.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond) // polling real sockets; a fake clock cannot drive them
	}
}
