//go:build wasip1

package sdk

import (
	"context"
	"errors"
	"unsafe"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

var errBadRequestBuffer = errors.New("collect: request buffer was not allocated with barbossa_alloc")

//go:wasmimport barbossa log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmimport barbossa exec
func hostExec(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport barbossa http
func hostHTTP(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport barbossa dbus
func hostDBus(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport barbossa read_file
func hostReadFile(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport barbossa stat
func hostStat(ptr unsafe.Pointer, size uint32) uint64

// wasmTransport calls the host through the barbossa imports. The host writes
// each response into a buffer it got from barbossa_alloc (a re-entrant call
// into this module); the buffer is ours, and unpin frees it.
type wasmTransport struct{}

var defaultTransport Transport = wasmTransport{}

func (wasmTransport) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	var imp func(unsafe.Pointer, uint32) uint64
	switch fn {
	case abi.FuncExec:
		imp = hostExec
	case abi.FuncHTTP:
		imp = hostHTTP
	case abi.FuncDBus:
		imp = hostDBus
	case abi.FuncReadFile:
		imp = hostReadFile
	case abi.FuncStat:
		imp = hostStat
	default:
		return nil, errors.New("unknown host function " + fn)
	}
	packed := imp(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
	ptr, size := abi.Unpack(packed)
	if ptr == 0 {
		return nil, errors.New("host returned no response")
	}
	resp, ok := unpin(ptr, size)
	if !ok {
		return nil, errors.New("host returned a buffer it did not allocate with barbossa_alloc")
	}
	return resp, nil
}

func (wasmTransport) Log(level Level, msg string) {
	b := []byte(msg)
	hostLog(int32(level), unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
}

// Serve does nothing in a WASM build: the module is a reactor, and the host
// calls its exports. It exists so the same main builds natively.
func Serve() {}
