package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
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
	{sdk.ExportABIVersion, nil, []api.ValueType{i32}},
	{sdk.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
	{sdk.ExportFree, []api.ValueType{i32}, nil},
	{sdk.ExportDescribe, nil, []api.ValueType{i64}},
	{sdk.ExportCollect, []api.ValueType{i32, i32}, []api.ValueType{i64}},
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
	known := hostfuncs.ImportNames()
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case sdk.HostModule:
			if !slices.Contains(known, name) {
				return fmt.Errorf("it imports %s.%s, which this agent does not provide (it has %v)", mod, name, known)
			}
		default:
			return fmt.Errorf("it imports %s.%s: only the %s and %s modules are provided", mod, name, sdk.HostModule, wasi_snapshot_preview1.ModuleName)
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
	ctx = hostfuncs.WithCaller(ctx, caller)
	out := newOutputs(m.host.logger.With("module", m.name))
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

	res, err := inst.ExportedFunction(sdk.ExportABIVersion).Call(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sdk.ExportABIVersion, err)
	}
	if v := int32(res[0]); v != sdk.ABIVersion {
		return nil, fmt.Errorf("ABI version %d is not supported: this agent speaks ABI version %d (docs/ABI.md)", v, sdk.ABIVersion)
	}
	res, err = inst.ExportedFunction(sdk.ExportDescribe).Call(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", sdk.ExportDescribe, err, out.stderr.tail())
	}
	b, err := readResult(ctx, inst, inst.ExportedFunction(sdk.ExportFree), res[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sdk.ExportDescribe, err)
	}
	return parseDescription(b)
}

// parseDescription accepts {"probes": [Info, ...]} or a single Info.
func parseDescription(b []byte) ([]sdk.Info, error) {
	var d struct {
		sdk.Info
		Probes []sdk.Info `json:"probes"`
		Error  string     `json:"error"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s returned %s, not JSON: %w", sdk.ExportDescribe, quoteStart(b), err)
	}
	if d.Error != "" {
		return nil, fmt.Errorf("%s: %s", sdk.ExportDescribe, d.Error)
	}
	probes := d.Probes
	if probes == nil && d.Name != "" {
		probes = []sdk.Info{d.Info}
	}
	if len(probes) == 0 {
		return nil, fmt.Errorf("%s lists no probe (does the module call sdk.Register?)", sdk.ExportDescribe)
	}
	seen := map[string]bool{}
	for i, p := range probes {
		if p.Name == "" {
			return nil, fmt.Errorf("%s: probes[%d] has no name", sdk.ExportDescribe, i)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s: probe %q listed twice", sdk.ExportDescribe, p.Name)
		}
		seen[p.Name] = true
	}
	return probes, nil
}

// maxResult bounds a describe or collect result read from guest memory.
const maxResult = 16 << 20

// readResult copies the packed ptr/len result out of guest memory and gives
// the buffer back to the guest (barbossa_free): ownership came with it.
func readResult(ctx context.Context, inst api.Module, free api.Function, packed uint64) ([]byte, error) {
	ptr, size := sdk.Unpack(packed)
	if size > maxResult {
		return nil, fmt.Errorf("result of %d bytes is over the %d MiB limit", size, maxResult>>20)
	}
	b, ok := inst.Memory().Read(ptr, size)
	if !ok {
		return nil, fmt.Errorf("result at %d+%d is outside guest memory (%d bytes)", ptr, size, inst.Memory().Size())
	}
	b = slices.Clone(b)
	if _, err := free.Call(ctx, uint64(ptr)); err != nil {
		return nil, fmt.Errorf("%s: %w", sdk.ExportFree, err)
	}
	return b, nil
}

func quoteStart(b []byte) string {
	const n = 64
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
