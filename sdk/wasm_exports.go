//go:build wasip1

package sdk

import (
	"sync"
	"unsafe"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// Buffers handed to the host stay reachable here until freed, so Go's GC
// (non-moving) neither frees nor reuses them while the host holds a pointer.
var pinned = struct {
	sync.Mutex
	bufs map[uint32][]byte
}{bufs: map[uint32][]byte{}}

// pin keeps b alive and returns its address in linear memory.
func pin(b []byte) uint32 {
	if len(b) == 0 {
		b = make([]byte, 1) // a zero-size allocation has no unique address
	}
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	pinned.Lock()
	pinned.bufs[ptr] = b
	pinned.Unlock()
	return ptr
}

// unpin forgets the buffer at ptr and returns its first size bytes.
func unpin(ptr, size uint32) ([]byte, bool) {
	pinned.Lock()
	b, ok := pinned.bufs[ptr]
	delete(pinned.bufs, ptr)
	pinned.Unlock()
	if !ok || int(size) > len(b) {
		return nil, false
	}
	return b[:size], true
}

//go:wasmexport barbossa_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport barbossa_alloc
func exportAlloc(size uint32) uint32 { return pin(make([]byte, size)) }

//go:wasmexport barbossa_free
func exportFree(ptr uint32) {
	pinned.Lock()
	delete(pinned.bufs, ptr)
	pinned.Unlock()
}

//go:wasmexport barbossa_describe
func exportDescribe() uint64 {
	b := describe()
	return abi.Pack(pin(b), uint32(len(b)))
}

//go:wasmexport barbossa_collect
func exportCollect(ptr, size uint32) uint64 {
	// The request buffer came from barbossa_alloc; it is ours now.
	req, ok := unpin(ptr, size)
	var b []byte
	if !ok {
		b = encodeError(errBadRequestBuffer)
	} else {
		b = collect(req)
	}
	return abi.Pack(pin(b), uint32(len(b)))
}
