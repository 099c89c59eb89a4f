package sdk

// Names and shapes of the WASM ABI (version ABIVersion), shared by the guest
// side (this package) and the host side (hostfuncs, core/wasmhost). The
// language-neutral description is docs/ABI.md.

// HostModule is the import module name of the host functions.
const HostModule = "barbossa"

// Host functions a probe may call. Each takes a JSON request and returns a
// JSON response (log takes a level and a message and returns nothing).
const (
	FuncLog      = "log"
	FuncExec     = "exec"
	FuncHTTP     = "http"
	FuncDBus     = "dbus"
	FuncReadFile = "read_file"
)

// Functions a guest module exports.
const (
	ExportABIVersion = "barbossa_abi_version" // () -> i32
	ExportAlloc      = "barbossa_alloc"       // (size i32) -> ptr i32
	ExportFree       = "barbossa_free"        // (ptr i32)
	ExportDescribe   = "barbossa_describe"    // () -> packed i64
	ExportCollect    = "barbossa_collect"     // (ptr i32, len i32) -> packed i64
)

// CollectRequest is the JSON the host passes to barbossa_collect.
type CollectRequest struct {
	Request
	// Kind picks one probe in a module that bundles several (the name in
	// its Info); empty means the module's only, or first, probe.
	Kind string `json:"kind,omitempty"`
	// TimeoutMS is the time left for the run when it started, so the
	// probe's context carries the same deadline as the host's.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Description is the JSON barbossa_describe returns: the probes a module
// carries. A module with a single probe may return just its Info object.
type Description struct {
	Probes []Info `json:"probes"`
}

// ErrorResponse is what a host function or barbossa_collect returns instead
// of its result when it fails.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Pack packs a pointer and a length into the i64 that describe, collect and
// the host functions return.
func Pack(ptr, size uint32) uint64 { return uint64(ptr)<<32 | uint64(size) }

// Unpack is the inverse of Pack.
func Unpack(v uint64) (ptr, size uint32) { return uint32(v >> 32), uint32(v) }
