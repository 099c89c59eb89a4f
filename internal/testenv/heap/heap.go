// Package heap measures how far a test's code makes the Go heap grow. Like
// testbus it is a leaf of the test rig, apart from internal/testenv, so the
// tests of the packages testenv imports can use it.
//
//	grew := heap.Peak(func() { attack() })
package heap

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// objects is the heap's object bytes: live, and dead but not yet swept.
func objects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Peak runs f and returns the most the heap grew past where it was (after
// a collection) while f ran, sampled every millisecond. It bounds what f
// held at once, garbage not yet collected included.
func Peak(f func()) uint64 {
	runtime.GC()
	base := objects()
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := objects(); h > base && h-base > peak.Load() {
				peak.Store(h - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	<-sampled
	if h := objects(); h > base && h-base > peak.Load() {
		peak.Store(h - base)
	}
	return peak.Load()
}
