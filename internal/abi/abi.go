package abi

import (
	"context"
	"encoding/json"
	"time"
)

// Version is the version of the WASM ABI and of the plugin protocol. It
// changes when an export, an import, a packing rule or a required field
// changes meaning (docs/ABI.md, "Versioning").
const Version = 1

// HostModule is the import module name of the host functions.
const HostModule = "barbossa"

// Host functions. log takes a level and a message and returns nothing; the
// others take a JSON request and return a JSON response.
const (
	FuncLog      = "log"
	FuncExec     = "exec"
	FuncHTTP     = "http"
	FuncDBus     = "dbus"
	FuncReadFile = "read_file"
	FuncStat     = "stat"
)

// HostCalls returns the host functions that take a JSON request and return
// a JSON response (every one but log), in a fixed order.
func HostCalls() []string { return []string{FuncExec, FuncHTTP, FuncDBus, FuncReadFile, FuncStat} }

// Functions a guest module exports.
const (
	ExportABIVersion = "barbossa_abi_version" // () -> i32
	ExportAlloc      = "barbossa_alloc"       // (size i32) -> ptr i32
	ExportFree       = "barbossa_free"        // (ptr i32)
	ExportDescribe   = "barbossa_describe"    // () -> packed i64
	ExportCollect    = "barbossa_collect"     // (ptr i32, len i32) -> packed i64
)

// MaxResult bounds, in bytes, a describe or collect answer the host reads
// from a guest or a plugin. DecodeReport refuses a larger report too.
const MaxResult = 16 << 20

// Pack packs a pointer and a length into the i64 that describe, collect and
// the host functions return.
func Pack(ptr, size uint32) uint64 { return uint64(ptr)<<32 | uint64(size) }

// Unpack is the inverse of Pack.
func Unpack(v uint64) (ptr, size uint32) { return uint32(v >> 32), uint32(v) }

// ErrorResponse is what a host function, describe or collect returns
// instead of its result when it fails.
type ErrorResponse struct {
	Error string `json:"error"`
}

// EncodeError returns the {"error": "..."} document of err.
func EncodeError(err error) []byte {
	b, _ := json.Marshal(ErrorResponse{Error: err.Error()}) // a string always encodes
	return b
}

// TimeoutMS is the time left before ctx's deadline in milliseconds, at
// least 1 when the deadline has passed, and 0 when ctx has none: the
// timeout_ms of a collect request or a host call.
func TimeoutMS(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(dl).Milliseconds(), 1)
}
