package hostfuncs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/godbus/dbus/v5"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Host holds what the host functions share between probes: D-Bus
// connections and HTTP transports. One per agent.
type Host struct {
	logger *slog.Logger

	mu      sync.Mutex
	buses   map[string]*dbus.Conn      // by bus name or address
	sockets map[string]*http.Transport // by unix socket path
	tcp     *http.Transport
}

// New returns a Host logging to logger (slog.Default() when nil).
func New(logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.Default()
	}
	return &Host{
		logger:  logger,
		buses:   map[string]*dbus.Conn{},
		sockets: map[string]*http.Transport{},
		tcp:     newTCPTransport(),
	}
}

// Close closes the D-Bus connections and idle HTTP connections.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for k, c := range h.buses {
		errs = append(errs, c.Close())
		delete(h.buses, k)
	}
	for _, t := range h.sockets {
		t.CloseIdleConnections()
	}
	h.tcp.CloseIdleConnections()
	return errors.Join(errs...)
}

// hostFunc is one JSON-in, JSON-out host function: (req_ptr, req_len i32) -> i64.
type hostFunc struct {
	name string
	call func(ctx context.Context, c *Caller, req []byte) (any, error)
}

// jsonFunc adapts a typed handler to a hostFunc.
func jsonFunc[Req any](name string, f func(c *Caller, ctx context.Context, req Req) (any, error)) hostFunc {
	return hostFunc{name: name, call: func(ctx context.Context, c *Caller, in []byte) (any, error) {
		var req Req
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, fmt.Errorf("bad request: %w", err)
		}
		return f(c, ctx, req)
	}}
}

var hostFuncs = map[string]hostFunc{
	sdk.FuncExec:     execFunc,
	sdk.FuncHTTP:     httpFunc,
	sdk.FuncDBus:     dbusFunc,
	sdk.FuncReadFile: readFileFunc,
}

// Instantiate adds the "barbossa" host module to r. Each host function finds
// its probe through WithCaller on the context the guest was called with; a
// guest called without one gets {"error": ...} from every function.
func (h *Host) Instantiate(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(sdk.HostModule)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(logFunc), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(sdk.FuncLog)
	for name, f := range hostFuncs {
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(f.wasm), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
			WithParameterNames("req_ptr", "req_len").
			WithResultNames("resp").
			Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module %q: %w", sdk.HostModule, err)
	}
	return nil
}

// ImportNames lists the functions of the host module, for checking a guest's
// imports before it is instantiated.
func ImportNames() []string {
	names := []string{sdk.FuncLog}
	for n := range hostFuncs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// wasm is the WASM calling convention of a JSON host function: read the
// request from guest memory, run it, and write the response into a buffer
// from the guest's barbossa_alloc (the guest owns and frees it).
func (f hostFunc) wasm(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, size := uint32(stack[0]), uint32(stack[1])
	var resp []byte
	if req, ok := mod.Memory().Read(ptr, size); !ok {
		resp = errorJSON(fmt.Errorf("request at %d+%d is outside guest memory", ptr, size))
	} else if c := callerFrom(ctx); c == nil {
		resp = errorJSON(errors.New("host function called outside a probe run"))
	} else {
		// Copy: alloc below may grow guest memory and move the request.
		resp, _ = c.Call(ctx, f.name, bytes.Clone(req))
	}
	stack[0] = writeGuest(ctx, mod, resp)
}

// writeGuest copies b into a buffer from the guest's allocator and returns
// the packed pointer. A guest that cannot allocate (out of memory, or its
// deadline passed) cannot go on: panic, which wazero turns into an error of
// the guest call, so the host discards the instance.
func writeGuest(ctx context.Context, mod api.Module, b []byte) uint64 {
	alloc := mod.ExportedFunction(sdk.ExportAlloc)
	if alloc == nil {
		panic(fmt.Errorf("guest does not export %s", sdk.ExportAlloc))
	}
	res, err := alloc.Call(ctx, uint64(len(b)))
	if err != nil {
		panic(fmt.Errorf("%s(%d): %w", sdk.ExportAlloc, len(b), err))
	}
	ptr := uint32(res[0])
	if !mod.Memory().Write(ptr, b) {
		panic(fmt.Errorf("%s(%d) returned %d, outside guest memory", sdk.ExportAlloc, len(b), ptr))
	}
	return sdk.Pack(ptr, uint32(len(b)))
}

func errorJSON(err error) []byte {
	b, _ := json.Marshal(sdk.ErrorResponse{Error: err.Error()})
	return b
}
