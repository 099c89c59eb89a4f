package portal

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// streamKeepAlive keeps proxies from closing an idle stream.
	streamKeepAlive = 15 * time.Second
	// maxStreams bounds open streams; each holds a connection and a goroutine.
	maxStreams = 64
	// streamWriteTimeout is how long one event may take to reach the
	// client. A client that stops reading is cut off once a write has
	// waited this long, and its slot is free again.
	streamWriteTimeout = 10 * time.Second
	// streamSendBuffer is the kernel send buffer of a stream's connection.
	// Linux grows it to 4 MiB by itself, which a client that never reads
	// would fill for an hour at a status every few seconds before a write
	// blocks; at 32 KiB (64 KiB as the kernel counts) writes block after
	// ~200 KB, the client's receive buffer included.
	streamSendBuffer = 32 << 10
)

// handleStream is /api/v1/stream: server-sent events, one "status" event
// (the /api/v1/status body) now and after every change, which wakes the
// stream (Source.Changed) rather than a poll. The body sent is the
// snapshot's cached encoding: streams cost no encoding of their own, and a
// change read by many streams is read from the Source once.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if n := s.streams.Add(1); n > maxStreams {
		s.streams.Add(-1)
		writeError(w, r, http.StatusServiceUnavailable, errTooManyStreams, "")
		return
	}
	defer s.streams.Add(-1)

	// The server's write timeout is for ordinary responses; a stream lives
	// until the client or the server goes away, or the client stops
	// reading: each write gets its own deadline.
	dl := &streamDeadline{rc: http.NewResponseController(w)}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-s.closing:
			dl.cutOff() // a write stuck on a stalled client must not hold up shutdown
		case <-done:
		}
	}()
	shrinkSendBuffer(r.Context())
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	keepAlive := time.NewTimer(streamKeepAlive)
	defer keepAlive.Stop()
	sent := false
	var sentVersion uint64
	for {
		// Taken before the snapshot is read, so a change while it is
		// built or written still wakes the loop.
		changed := s.src.Changed()
		sn := s.cache.get()
		// Only a new version is news: a snapshot rebuilt at the same
		// version (its age bound) holds the same data.
		if !sent || sn.version != sentVersion {
			if dl.arm() != nil {
				return
			}
			body := sn.body("status", func() any { return sn.status() })
			if err := writeEvent(w, "status", sn.version, body.identity); err != nil {
				return
			}
			if err := dl.rc.Flush(); err != nil {
				return
			}
			sent, sentVersion = true, sn.version
			keepAlive.Reset(streamKeepAlive)
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-changed:
		case <-keepAlive.C:
			if dl.arm() != nil {
				return
			}
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := dl.rc.Flush(); err != nil {
				return
			}
			keepAlive.Reset(streamKeepAlive)
		}
	}
}

var errTooManyStreams = httpError("too many open streams; try again later")

// streamDeadline arms a stream's write deadline before each write and cuts
// the stream at shutdown. Once cut, arming fails and a write in progress
// fails at once.
type streamDeadline struct {
	rc  *http.ResponseController
	mu  sync.Mutex
	cut bool
}

var errStreamCut = errors.New("stream cut off at shutdown")

func (d *streamDeadline) arm() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return errStreamCut
	}
	// A writer without deadlines (a test recorder, an embedding server)
	// streams without one.
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	return nil
}

func (d *streamDeadline) cutOff() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	_ = d.rc.SetWriteDeadline(time.Unix(1, 0))
}

// connKey carries a request's connection in its context (withConn).
type connKey struct{}

// withConn is the server's ConnContext: it lets a stream reach its TCP
// connection to bound the send buffer.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// shrinkSendBuffer bounds the kernel's send buffer of the request's TCP
// connection (see streamSendBuffer), so a client that never reads stalls
// the stream's writes soon, and the write deadline frees its slot.
func shrinkSendBuffer(ctx context.Context) {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(streamSendBuffer)
	}
}

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
