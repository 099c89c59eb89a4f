package portal

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

// pipeListener is a net.Listener whose connections are in-memory pipes. A
// server on it runs inside a testing/synctest bubble: I/O on real sockets
// is not durably blocking, so with one open the fake clock would never move.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a client end to the server's next Accept.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// startPiped is start on a pipeListener, for tests inside a bubble (call it
// there): it returns the server, a client that reaches it through pipes and
// a stop function that cancels and waits for ListenAndServe's return value.
func startPiped(t *testing.T, cfg Config, src Source) (*Server, *http.Client, func() error) {
	t.Helper()
	s := New(cfg, src, nil)
	l := newPipeListener()
	s.listener = l // Listen keeps a listener it already has
	tr := &http.Transport{DialContext: l.dial}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	var once sync.Once
	var err error
	// In a bubble a server that never returns is a deadlock synctest reports.
	stop := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() {
		_ = stop()
		tr.CloseIdleConnections()
	})
	return s, &http.Client{Transport: tr}, stop
}
