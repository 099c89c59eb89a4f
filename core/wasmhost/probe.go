package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// ProbeOptions configure one probe run by a Module.
type ProbeOptions struct {
	// Name is the probe's name: in the collect request, logs and errors.
	Name string
	// Kind picks one of the module's probes (its Info().Name); empty is the
	// only (or first) one.
	Kind string
	// Grants are the probe's [probe.allow] table; nothing else is allowed.
	Grants hostfuncs.Grants
	// MaxMemory is the guest's linear memory limit in bytes (rounded up to
	// 64 KiB pages). 0: DefaultMaxMemory. A Go guest needs at least 2.6 MiB.
	MaxMemory uint64
	// Config is the [probe.config] table, sent when a request has none.
	Config map[string]any
	// MaxDepth bounds how deeply the probe's reports nest (its max_depth;
	// see abi.DecodeReport): a report nested deeper is refused whole. 0:
	// abi.DefaultMaxDepth. SetMaxDepth changes it while the probe runs.
	MaxDepth int
	// KeepInstance keeps a healthy instance between runs. Off by default:
	// measured with the Go test guest, a fresh instance per run costs ~10 ms
	// of CPU and nothing resident between runs (its memory is unmapped),
	// while a kept one costs ~3.5 MiB resident and saves the 10 ms. Worth it
	// for a probe run every few seconds. A probe whose description says
	// "stateful" (it keeps counters between runs) is always kept.
	KeepInstance bool
	// Logger for the probe's output, log messages and denied calls; the
	// probe's name is added. nil: the Host's logger.
	Logger *slog.Logger
}

// Probe runs one probe of a Module under its own grants and limits. It
// implements sdk.Probe and the scheduler's Collector; Denied counts refused
// host calls. It is safe for concurrent use: runs are serialised.
type Probe struct {
	mod    *Module
	opts   ProbeOptions
	info   sdk.Info
	caller *hostfuncs.Caller
	logger *slog.Logger
	limit  uint64 // bytes of guest memory
	depth  atomic.Int64

	sem    chan struct{} // held by the run in progress
	inst   api.Module
	mem    *guestMemory
	fns    struct{ alloc, collect, free api.Function }
	out    *outputs
	sleep  sleeper
	closed bool
}

var _ sdk.Probe = (*Probe)(nil)

// NewProbe makes a probe of m. Its instance is made on its first run.
func (h *Host) NewProbe(m *Module, o ProbeOptions) (*Probe, error) {
	if o.Name == "" {
		return nil, errors.New("wasm probe: a name is required")
	}
	info, err := m.kind(o.Kind)
	if err != nil {
		return nil, fmt.Errorf("wasm probe %q: %w", o.Name, err)
	}
	o.KeepInstance = o.KeepInstance || info.Stateful
	logger := o.Logger
	if logger == nil {
		logger = h.logger
	}
	caller, err := h.funcs.NewCaller(o.Name, o.Grants, logger)
	if err != nil {
		return nil, err
	}
	limit := memoryLimit(o.MaxMemory)
	if limit < m.minBytes {
		return nil, fmt.Errorf("wasm probe %q: max_memory of %d KiB is below the %d KiB module %q needs to start", o.Name, limit>>10, m.minBytes>>10, m.name)
	}
	logger = logger.With("probe", o.Name)
	p := &Probe{
		mod:    m,
		opts:   o,
		info:   info,
		caller: caller,
		logger: logger,
		limit:  limit,
		sem:    make(chan struct{}, 1),
		out:    newOutputs(caller),
	}
	p.SetMaxDepth(o.MaxDepth)
	return p, nil
}

// SetMaxDepth sets how deeply the probe's reports may nest from its next
// run on (ProbeOptions.MaxDepth), as a config reload does.
func (p *Probe) SetMaxDepth(n int) { p.depth.Store(int64(n)) }

func (m *Module) kind(kind string) (sdk.Info, error) {
	if kind == "" {
		return m.probes[0], nil
	}
	names := make([]string, len(m.probes))
	for i, p := range m.probes {
		if p.Name == kind {
			return p, nil
		}
		names[i] = p.Name
	}
	return sdk.Info{}, fmt.Errorf("module %q has no probe of kind %q (it has %v)", m.name, kind, names)
}

// Info describes the probe's code, as the module's describe lists it.
func (p *Probe) Info() sdk.Info { return p.info }

// Name returns the probe's name.
func (p *Probe) Name() string { return p.opts.Name }

// Denied returns the number of host calls its grants refused.
func (p *Probe) Denied() uint64 { return p.caller.Denied() }

// Close discards the instance; later runs fail. It waits for a run in
// progress (bounded by that run's deadline).
func (p *Probe) Close() error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	p.discard()
	p.closed = true
	return p.caller.Close()
}

// DefaultTimeout bounds a run whose context has no deadline: a guest with
// no deadline at all could loop forever.
const DefaultTimeout = time.Minute

// Collect runs the probe once. ctx's deadline (DefaultTimeout when it has
// none) is a hard timeout: a guest still running then is stopped, and the
// error matches context.DeadlineExceeded. An empty req.Probe is the probe's
// name and a nil req.Config is ProbeOptions.Config.
func (p *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return sdk.Report{}, fmt.Errorf("probe %q: waiting for its previous run: %w", p.opts.Name, ctx.Err())
	}
	defer func() { <-p.sem }()
	if p.closed {
		return sdk.Report{}, fmt.Errorf("probe %q is closed", p.opts.Name)
	}
	defer p.out.flush()

	if req.Probe == "" {
		req.Probe = p.opts.Name
	}
	if req.Config == nil {
		req.Config = p.opts.Config
	}
	in, err := abi.EncodeCollect(ctx, abi.CollectRequest{Probe: req.Probe, Config: req.Config, Kind: p.opts.Kind})
	if err != nil {
		return sdk.Report{}, fmt.Errorf("probe %q: %w", p.opts.Name, err)
	}

	ctx = withGuest(ctx, p.caller, p.limit)
	p.sleep.start(ctx)
	if p.inst == nil {
		if err := p.instantiate(ctx); err != nil {
			return sdk.Report{}, p.failed(ctx, "instantiate", err)
		}
	}
	out, err := p.call(ctx, in)
	if err != nil {
		return sdk.Report{}, p.failed(ctx, abi.ExportCollect, err)
	}
	var report sdk.Report
	if err := abi.DecodeReport(out, int(p.depth.Load()), &report); err != nil {
		p.discard()
		var failed *abi.ProbeError
		if errors.As(err, &failed) {
			return sdk.Report{}, fmt.Errorf("probe %q: collect failed: %w", p.opts.Name, err)
		}
		return sdk.Report{}, fmt.Errorf("probe %q: %s: %w", p.opts.Name, abi.ExportCollect, err)
	}
	if !p.opts.KeepInstance {
		p.discard()
	}
	return report, nil
}

func (p *Probe) instantiate(ctx context.Context) error {
	alloc, mem := allocator(p.limit)
	inst, err := p.mod.host.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), p.mod.cm, moduleConfig(p.opts.Name, p.out, &p.sleep))
	if err != nil {
		mem.Free()
		return err
	}
	p.inst, p.mem = inst, mem
	p.fns.alloc = inst.ExportedFunction(abi.ExportAlloc)
	p.fns.collect = inst.ExportedFunction(abi.ExportCollect)
	p.fns.free = inst.ExportedFunction(abi.ExportFree)
	return nil
}

// call passes the request (the guest owns and frees it) and reads the result.
func (p *Probe) call(ctx context.Context, in []byte) ([]byte, error) {
	res, err := p.fns.alloc.Call(ctx, uint64(len(in)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", abi.ExportAlloc, err)
	}
	ptr := uint32(res[0])
	if !p.inst.Memory().Write(ptr, in) {
		return nil, fmt.Errorf("%s(%d) returned %d, outside guest memory", abi.ExportAlloc, len(in), ptr)
	}
	res, err = p.fns.collect.Call(ctx, uint64(ptr), uint64(len(in)))
	if err != nil {
		return nil, err
	}
	return readResult(ctx, p.inst, p.fns.free, res[0])
}

// discard closes the instance, if any, and gives its memory back: the
// next run makes a fresh one. The guest is not running (runs hold p.sem),
// so nothing can touch its memory after this.
func (p *Probe) discard() {
	if p.inst != nil {
		p.inst.Close(context.Background())
		p.inst = nil
	}
	if p.mem != nil {
		p.mem.Free()
		p.mem = nil
	}
}

// failed discards the instance after a failed call and says why in terms
// of what happened to the guest: its deadline, its exit, or a trap.
func (p *Probe) failed(ctx context.Context, stage string, err error) error {
	memNote := ""
	if p.inst != nil {
		if mem := p.inst.Memory(); mem != nil {
			memNote = fmt.Sprintf(" (guest memory %.1f of %d MiB)", float64(mem.Size())/(1<<20), p.limit>>20)
		}
	}
	p.discard()
	name := p.opts.Name
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("probe %q: stopped at its deadline during %s: %w", name, stage, ctxErr)
	}
	tail := p.out.stderr.tail()
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("probe %q: stopped at its deadline during %s: %w", name, stage, context.DeadlineExceeded)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("probe %q: cancelled during %s: %w", name, stage, context.Canceled)
		}
		return fmt.Errorf("probe %q: guest exited with code %d during %s%s%s", name, exit.ExitCode(), stage, memNote, tail)
	}
	// wazero appends the guest's stack trace to a trap: log it, keep the
	// error to one line.
	p.logger.Debug("guest trapped", "stage", stage, "error", err)
	return fmt.Errorf("probe %q: guest failed during %s%s: %w%s", name, stage, memNote, firstLine{err}, tail)
}

// firstLine is an error showing only the first line of its message.
type firstLine struct{ err error }

func (e firstLine) Error() string {
	msg, _, _ := strings.Cut(e.err.Error(), "\n")
	return msg
}

func (e firstLine) Unwrap() error { return e.err }
