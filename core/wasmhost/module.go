package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// loadTimeout bounds the instance Load makes to read the ABI version and
// the description, when the caller's context has no deadline.
const loadTimeout = 30 * time.Second

// Module is a compiled probe module: one .wasm, possibly bundling several
// probes, that any number of Probes (with their own grants) run.
type Module struct {
	host     *Host
	name     string
	cm       wazero.CompiledModule
	probes   []sdk.Info
	minBytes uint64 // the initial size of its memory
}

// Name returns the name given to Load.
func (m *Module) Name() string { return m.name }

// Probes returns what the module's barbossa_describe lists.
func (m *Module) Probes() []sdk.Info { return slices.Clone(m.probes) }

// Load compiles a module (or finds it in the compilation cache), checks its
// imports and exports against the ABI, and instantiates it once to read
// its ABI version and its description. name is for messages and logs.
func (h *Host) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	cm, err := h.rt.CompileModule(ctx, wasm)
	if err != nil && h.cacheWriteFailed(err) {
		// wazero compiled the module and keeps it in memory before it
		// writes the cache file: asked again, it answers from memory.
		h.logger.Warn("wasm compilation cache not writable: module compiled in memory", "module", name, "err", err)
		cm, err = h.rt.CompileModule(ctx, wasm)
	}
	if err != nil {
		return nil, fmt.Errorf("compile wasm module %q: %w", name, err)
	}
	m := &Module{host: h, name: name, cm: cm}
	if err := checkShape(cm); err != nil {
		cm.Close(ctx)
		return nil, fmt.Errorf("wasm module %q: %w", name, err)
	}
	for _, md := range cm.ExportedMemories() {
		m.minBytes = max(m.minBytes, uint64(md.Min())*pageSize)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, loadTimeout)
		defer cancel()
	}
	probes, err := m.describe(ctx)
	if err != nil {
		cm.Close(context.Background())
		return nil, fmt.Errorf("wasm module %q: %w", name, err)
	}
	m.probes = probes
	return m, nil
}

// Close drops the compiled code from the host. Probes of the module keep
// running (their instances hold the code until they are closed); close
// them too to free it.
func (m *Module) Close(ctx context.Context) error {
	return m.cm.Close(ctx)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// abiExports are the exports of ABI version 1 and their signatures.
var abiExports = []struct {
	name            string
	params, results []api.ValueType
}{
	{abi.ExportABIVersion, nil, []api.ValueType{i32}},
	{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
	{abi.ExportFree, []api.ValueType{i32}, nil},
	{abi.ExportDescribe, nil, []api.ValueType{i64}},
	{abi.ExportCollect, []api.ValueType{i32, i32}, []api.ValueType{i64}},
}

// checkShape refuses, with a message a probe author can act on, a module
// that is not a Barbossa probe, is a WASI command, or imports what the host
// does not provide.
func checkShape(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		if _, ok := exports["_initialize"]; !ok {
			return errors.New("it is a WASI command (it exports _start): build a reactor, e.g. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared")
		}
	}
	known := hostImports()
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case abi.HostModule:
			if !slices.Contains(known, name) {
				return fmt.Errorf("it imports %s.%s, which this agent does not provide (it has %v)", mod, name, known)
			}
		default:
			return fmt.Errorf("it imports %s.%s: only the %s and %s modules are provided", mod, name, abi.HostModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, e := range abiExports {
		def, ok := exports[e.name]
		if !ok {
			return fmt.Errorf("not a Barbossa probe: it does not export %s (docs/ABI.md)", e.name)
		}
		if !slices.Equal(def.ParamTypes(), e.params) || !slices.Equal(def.ResultTypes(), e.results) {
			return fmt.Errorf("export %s has signature %s, want %s", e.name, signature(def.ParamTypes(), def.ResultTypes()), signature(e.params, e.results))
		}
	}
	if len(cm.ExportedMemories()) == 0 {
		return errors.New("it exports no memory")
	}
	return nil
}

func signature(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := "("
		for i, t := range ts {
			if i > 0 {
				s += ", "
			}
			s += api.ValueTypeName(t)
		}
		return s + ")"
	}
	return name(params) + " -> " + name(results)
}

// describe instantiates the module once, with no grants, to read its ABI
// version and the probes it carries.
func (m *Module) describe(ctx context.Context) ([]sdk.Info, error) {
	caller, err := m.host.funcs.NewCaller("load:"+m.name, hostfuncs.Grants{}, m.host.logger)
	if err != nil {
		return nil, err
	}
	ctx = withGuest(ctx, caller, memoryLimit(DefaultMaxMemory))
	out := newOutputs(caller)
	defer out.flush()
	var sl sleeper
	sl.start(ctx)
	alloc, mem := allocator(memoryLimit(DefaultMaxMemory))
	defer mem.Free()
	inst, err := m.host.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), m.cm, moduleConfig(m.name, out, &sl))
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w%s", err, out.stderr.tail())
	}
	defer inst.Close(context.Background()) // before mem.Free

	res, err := inst.ExportedFunction(abi.ExportABIVersion).Call(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abi.ExportABIVersion, err)
	}
	if v := int32(res[0]); v != abi.Version {
		return nil, fmt.Errorf("ABI version %d is not supported: this agent speaks ABI version %d (docs/ABI.md)", v, abi.Version)
	}
	res, err = inst.ExportedFunction(abi.ExportDescribe).Call(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", abi.ExportDescribe, err, out.stderr.tail())
	}
	b, err := readResult(ctx, inst, inst.ExportedFunction(abi.ExportFree), res[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abi.ExportDescribe, err)
	}
	return abi.DecodeDescription[sdk.Info](b)
}

// readResult copies the packed ptr/len result out of guest memory and gives
// the buffer back to the guest (barbossa_free): ownership came with it.
func readResult(ctx context.Context, inst api.Module, free api.Function, packed uint64) ([]byte, error) {
	ptr, size := abi.Unpack(packed)
	if size > abi.MaxResult {
		return nil, fmt.Errorf("result of %d bytes is over the %d MiB limit", size, abi.MaxResult>>20)
	}
	b, ok := inst.Memory().Read(ptr, size)
	if !ok {
		return nil, fmt.Errorf("result at %d+%d is outside guest memory (%d bytes)", ptr, size, inst.Memory().Size())
	}
	b = slices.Clone(b)
	if _, err := free.Call(ctx, uint64(ptr)); err != nil {
		return nil, fmt.Errorf("%s: %w", abi.ExportFree, err)
	}
	return b, nil
}
