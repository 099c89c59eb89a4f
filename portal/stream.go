package portal

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	// streamPoll is how often a stream looks for new data. Snapshots are
	// shared, so a thousand streams still read the Source once per change.
	streamPoll = 500 * time.Millisecond
	// streamKeepAlive keeps proxies from closing an idle stream.
	streamKeepAlive = 15 * time.Second
	// maxStreams bounds open streams; each holds a connection and a goroutine.
	maxStreams = 64
)

// handleStream is /api/v1/stream: server-sent events, one "status" event
// (the /api/v1/status body) now and after every change. The body sent is the
// snapshot's cached encoding: streams cost no encoding of their own.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if n := s.streams.Add(1); n > maxStreams {
		s.streams.Add(-1)
		writeError(w, r, http.StatusServiceUnavailable, errTooManyStreams, "")
		return
	}
	defer s.streams.Add(-1)

	rc := http.NewResponseController(w)
	// The server's write timeout is for ordinary responses; a stream lives
	// until the client or the server goes away.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	poll := time.NewTicker(streamPoll)
	defer poll.Stop()
	lastSent := time.Now()
	var sentGen uint64
	for {
		sn := s.cache.get()
		if sn.gen != sentGen {
			sentGen = sn.gen
			body := sn.body("status", func() any { return sn.status() })
			if err := writeEvent(w, "status", sn.version, body.identity); err != nil {
				return
			}
			lastSent = time.Now()
		} else if time.Since(lastSent) >= streamKeepAlive {
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			lastSent = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-poll.C:
		}
	}
}

var errTooManyStreams = httpError("too many open streams; try again later")

type httpError string

func (e httpError) Error() string { return string(e) }

// writeEvent writes one server-sent event. JSON bodies hold no raw newlines
// but the encoder's trailing one, which the event framing replaces.
func writeEvent(w http.ResponseWriter, event string, id uint64, data []byte) error {
	var b bytes.Buffer
	b.Grow(len(data) + 64)
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\nid: ")
	b.WriteString(strconv.FormatUint(id, 10))
	b.WriteString("\ndata: ")
	b.Write(bytes.TrimRight(data, "\n"))
	b.WriteString("\n\n")
	_, err := w.Write(b.Bytes())
	return err
}

// streamCount is embedded in Server.
type streamCount = atomic.Int64
