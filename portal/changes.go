package portal

import (
	"sync"
	"sync/atomic"
)

// Changes is the data version a Source keeps, with a way to wait for its
// next move: live views (the stream) wake when data changes instead of
// polling. A Source embeds it (or holds one) and calls Bump on every change;
// its Version and Changed methods then satisfy the Source interface.
type Changes struct {
	n  atomic.Uint64
	mu sync.Mutex
	ch chan struct{} // closed at the next Bump; nil until someone waits
}

// Bump moves the version and wakes everyone waiting on Changed.
func (c *Changes) Bump() {
	c.n.Add(1)
	c.mu.Lock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
	c.mu.Unlock()
}

// Version is the number of changes so far.
func (c *Changes) Version() uint64 { return c.n.Load() }

// Changed returns a channel closed at the next Bump. Take it before reading
// the data, so a change in between is not missed.
func (c *Changes) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}
