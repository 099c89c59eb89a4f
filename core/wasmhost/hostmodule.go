package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The "barbossa" host module: hostfuncs' functions in the WASM calling
// convention of docs/ABI.md. One module serves every probe of a runtime;
// each call finds its probe's *hostfuncs.Caller, and the probe's memory
// limit, on the context the guest was called with (withGuest).

type guestKey struct{}

// guestRun is what the host functions know of the guest calling them.
type guestRun struct {
	caller *hostfuncs.Caller
	limit  uint64 // bytes of linear memory the guest may have
}

// withGuest returns ctx carrying c and the guest's memory limit, for the
// host functions of guest calls made with it.
func withGuest(ctx context.Context, c *hostfuncs.Caller, limit uint64) context.Context {
	return context.WithValue(ctx, guestKey{}, guestRun{c, limit})
}

func guestFrom(ctx context.Context) guestRun {
	g, _ := ctx.Value(guestKey{}).(guestRun)
	return g
}

// instantiateHostModule adds the host module to r. A guest called without
// a Caller on its context gets {"error": ...} from every function.
func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.HostModule)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(guestLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.FuncLog)
	for _, name := range abi.HostCalls() {
		b.NewFunctionBuilder().
			WithGoModuleFunction(hostCall(name), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}).
			WithParameterNames("req_ptr", "req_len").
			WithResultNames("resp").
			Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module %q: %w", abi.HostModule, err)
	}
	return nil
}

// hostImports lists the functions of the host module, for checking a
// guest's imports before it is instantiated.
func hostImports() []string { return append(abi.HostCalls(), abi.FuncLog) }

// guestLog is "log": (level i32, ptr i32, len i32). It reads no more than
// hostfuncs.MaxLogMessage bytes of the message; a message outside guest
// memory is dropped.
func guestLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, size := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	c := guestFrom(ctx).caller
	if c == nil {
		return
	}
	msg, ok := mod.Memory().Read(ptr, min(size, hostfuncs.MaxLogMessage))
	if !ok {
		return
	}
	c.LogContext(ctx, sdk.Level(level), string(msg))
}

// hostCall is a JSON host function: (req_ptr i32, req_len i32) -> i64. It
// reads the request from guest memory, runs it, and writes the response
// into a buffer from the guest's barbossa_alloc (the guest owns and frees
// it). The answers may take no more than the guest's memory can still
// grow by (room): what could never fit is refused before the host builds
// it.
func hostCall(name string) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		ptr, size := uint32(stack[0]), uint32(stack[1])
		g := guestFrom(ctx)
		var resp []byte
		if req, ok := mod.Memory().Read(ptr, size); !ok {
			resp = abi.EncodeError(fmt.Errorf("request at %d+%d is outside guest memory", ptr, size))
		} else if g.caller == nil {
			resp = abi.EncodeError(errors.New("host function called outside a probe run"))
		} else {
			// Copy: alloc below may grow guest memory and move the request.
			resp = g.caller.CallWithin(ctx, name, bytes.Clone(req), room(g.limit, mod.Memory().Size()))
		}
		stack[0] = writeGuest(ctx, mod, resp)
	}
}

// room is what a guest's memory of size bytes can still grow by under its
// limit, the most an answer can take; and never less than minRoom, since
// a guest at its limit may still have room inside its memory (only its
// allocator knows: an answer it cannot take fails the run).
func room(limit uint64, size uint32) int64 {
	if uint64(size)+minRoom >= limit {
		return minRoom
	}
	return int64(limit - uint64(size))
}

// minRoom is one page: a guest whose memory is at its limit (examples/wat
// runs in one page, its max_memory) still gets answers that fit in what
// it has free.
const minRoom = 64 << 10

// writeGuest copies b into a buffer from the guest's allocator and returns
// the packed pointer. A guest that cannot allocate (out of memory, or its
// deadline passed) cannot go on: panic, which wazero turns into an error of
// the guest call, so the host discards the instance.
func writeGuest(ctx context.Context, mod api.Module, b []byte) uint64 {
	alloc := mod.ExportedFunction(abi.ExportAlloc)
	if alloc == nil {
		panic(fmt.Errorf("guest does not export %s", abi.ExportAlloc))
	}
	res, err := alloc.Call(ctx, uint64(len(b)))
	if err != nil {
		panic(fmt.Errorf("%s(%d): %w", abi.ExportAlloc, len(b), err))
	}
	ptr := uint32(res[0])
	if !mod.Memory().Write(ptr, b) {
		panic(fmt.Errorf("%s(%d) returned %d, outside guest memory", abi.ExportAlloc, len(b), ptr))
	}
	return abi.Pack(ptr, uint32(len(b)))
}
