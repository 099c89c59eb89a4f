package wasmhost

import (
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory is one instance's linear memory, in a mapping of its own
// rather than on the agent's Go heap. Measured with 4 Go guests run back to
// back, a fresh instance per run left ~27 MiB more resident with wazero's
// default (Go heap: each discarded memory is garbage until a GC, and the GC
// paces the heap at twice the live size) than keeping the instances; in a
// mapping, discarding an instance gives its pages back at once (munmap).
//
// It also enforces the probe's max_memory: wazero's own limit is per
// runtime, this one is per instance, so one runtime serves every limit.
//
// The mapping reserves address space up to the limit (MAP_NORESERVE): pages
// are resident only once touched, and the buffer never moves when the guest
// grows it, so growing copies nothing.
type guestMemory struct {
	mu    sync.Mutex
	limit uint64 // bytes
	buf   []byte // the reservation; nil once freed
	heap  bool   // buf is on the Go heap: mmap failed
}

var _ experimental.LinearMemory = (*guestMemory)(nil)

// allocator returns a wazero MemoryAllocator giving the next instance
// memory limited to limit bytes, and the memory it gave (set by wazero's
// call to Allocate during instantiation), so the caller can free it.
func allocator(limit uint64) (experimental.MemoryAllocator, *guestMemory) {
	m := &guestMemory{limit: limit}
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m.reserve(capBytes, maxBytes)
		return m
	}), m
}

func (m *guestMemory) reserve(capBytes, maxBytes uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// At least the initial size, so wazero's first Reallocate cannot fail
	// (NewProbe refuses a limit below a module's initial memory anyway).
	size := max(min(maxBytes, m.limit), capBytes)
	if size == 0 {
		size = pageSize
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		// No address space (ulimit -v)? The Go heap still works.
		m.buf, m.heap = make([]byte, 0, capBytes), true
		return
	}
	m.buf = b
}

// Reallocate implements experimental.LinearMemory: the memory grows to size
// bytes, or nil when that is past the limit (memory.grow returns -1).
func (m *guestMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buf == nil && !m.heap {
		return nil // freed
	}
	if m.heap {
		if size > m.limit && size > uint64(len(m.buf)) {
			return nil
		}
		if size > uint64(cap(m.buf)) {
			b := make([]byte, size)
			copy(b, m.buf)
			m.buf = b
		}
		m.buf = m.buf[:size]
		return m.buf
	}
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

// Free implements experimental.LinearMemory. wazero calls it when an
// instance is closed normally, but not when a deadline closed it while it
// ran; Probe.discard calls it too, once the guest can no longer run. It is
// safe to call more than once.
func (m *guestMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.buf != nil && !m.heap {
		syscall.Munmap(m.buf)
	}
	m.buf, m.heap = nil, false
}
