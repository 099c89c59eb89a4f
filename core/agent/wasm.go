package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/core/builtinwasm"
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

// keepInstanceBelow is the interval under which a WASM probe keeps its
// instance between runs. A fresh instance costs a Go guest ~10 ms of CPU
// and nothing resident between runs; a kept one ~3.5 MiB resident. Below
// 5 s the CPU is worth saving (0.2% of a core and up); above it memory is.
const keepInstanceBelow = 5 * time.Second

// loadTimeout bounds the CPU time a compile child may spend compiling a
// module. A cold compile of the built-in bundle takes ~10 s on a busy
// 2-core machine, and ~27 s of CPU under the race detector; the bound is
// for a module that would compile for ever, so it can be generous.
const loadTimeout = 3 * time.Minute

// bundle returns the embedded module of built-in WASM probes; tests
// replace it to act out a binary built without make.
var bundle = builtinwasm.Bundle

// wasmRuntime is the agent's WASM host, made when the first WASM probe is,
// and the compiled modules its probes share: a module used by several
// probes (the built-in bundle, one .wasm in two [[probe]] entries) is
// compiled and resident once.
type wasmRuntime struct {
	mu      sync.Mutex
	host    *wasmhost.Host
	modules map[string]*sharedModule // by SHA-256 of the module's bytes
	loading sync.WaitGroup           // built-in probes still loading (pendingWASM)
	// cacheDir is the host's compilation cache, log its logger; both set
	// with host.
	cacheDir string
	log      *slog.Logger
}

type sharedModule struct {
	mod  *wasmhost.Module
	refs int
}

// wasmProbe is a WASM probe as the scheduler runs it. Closing it (when its
// probe is removed or the agent stops) closes the probe and lets go of its
// module, which is freed with its last probe. Denied is the probe's.
type wasmProbe struct {
	*wasmhost.Probe
	release func()
}

func (w *wasmProbe) Close() error {
	err := w.Probe.Close()
	w.release()
	return err
}

// notCompiled stands in for a built-in WASM probe in a binary built
// without `make`: the agent runs, and the probe fails every run with a
// message saying how to fix it, in the log and in the portal.
type notCompiled struct{}

func (notCompiled) Collect(context.Context, sdk.Request) (sdk.Report, error) {
	return sdk.Report{}, builtinwasm.ErrNotCompiled
}

// wasmCollector runs a sandboxed WASM probe: source "builtin:NAME" is the
// probe of kind NAME in the embedded bundle, anything else a .wasm file
// (relative to the config file). A file is loaded now, so a bad one stops
// the agent at start with its reason; the built-in bundle is loaded in the
// background (pendingWASM), so the portal answers before it is compiled.
func (a *Agent) wasmCollector(p config.Probe) (scheduler.Collector, error) {
	wasm, name, kind, err := a.wasmSource(p)
	if errors.Is(err, builtinwasm.ErrNotCompiled) {
		a.log.Error("built-in WASM probe cannot run", "probe", p.Name, "source", p.Source, "err", err)
		return notCompiled{}, nil
	}
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(p.Source, "builtin:") {
		return a.pendingWASM(p, wasm, name, kind), nil
	}
	return a.wasmProbe(p, wasm, name, kind)
}

// pendingWASM is a built-in WASM probe whose module is loaded (compiled, or
// read from the compilation cache, and described) in the background: ~0.1 s
// with a warm cache, seconds cold. Run starts the scheduler once every load
// is done (wasmRuntime.loading), so no run waits for one, while the portal
// answers from the first milliseconds and shows these probes pending.
type pendingWASM struct {
	loaded chan struct{} // closed when probe or err is set
	probe  *wasmProbe
	err    error

	// mu guards maxDepth, the probe's as last set, and the setting of
	// probe, so that a SetMaxDepth while the module loads is not lost.
	mu       sync.Mutex
	maxDepth int
}

func (a *Agent) pendingWASM(p config.Probe, wasm []byte, name, kind string) *pendingWASM {
	pw := &pendingWASM{loaded: make(chan struct{}), maxDepth: p.Limits.MaxDepth}
	a.wasm.loading.Add(1)
	go func() {
		defer a.wasm.loading.Done()
		defer close(pw.loaded)
		c, err := a.wasmProbe(p, wasm, name, kind)
		if err != nil {
			pw.err = err
			a.log.Error("built-in WASM probe cannot run", "probe", p.Name, "source", p.Source, "err", err)
			return
		}
		pw.mu.Lock()
		defer pw.mu.Unlock()
		pw.probe = c.(*wasmProbe)
		pw.probe.SetMaxDepth(pw.maxDepth)
	}()
	return pw
}

// SetMaxDepth sets the probe's max_depth, now or once it is made.
func (pw *pendingWASM) SetMaxDepth(n int) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.maxDepth = n
	if pw.probe != nil {
		pw.probe.SetMaxDepth(n)
	}
}

// Collect runs the probe once its module is loaded.
func (pw *pendingWASM) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	select {
	case <-pw.loaded:
	case <-ctx.Done():
		return sdk.Report{}, fmt.Errorf("its WASM module is still loading: %w", ctx.Err())
	}
	if pw.err != nil {
		return sdk.Report{}, pw.err
	}
	return pw.probe.Collect(ctx, req)
}

// Denied counts the probe's refused host calls (none before it is loaded).
func (pw *pendingWASM) Denied() uint64 {
	select {
	case <-pw.loaded:
		if pw.probe != nil {
			return pw.probe.Denied()
		}
	default:
	}
	return 0
}

// Close waits for the load to end (it is bounded: see wasmRuntime.load)
// and closes the probe.
func (pw *pendingWASM) Close() error {
	<-pw.loaded
	if pw.probe == nil {
		return nil
	}
	return pw.probe.Close()
}

// wasmProbe makes a WASM probe of module bytes already read (a drop-in's
// are read once, checked as the agent trusts them): name is the module's
// for messages, kind the probe to run in it ("" for its first).
func (a *Agent) wasmProbe(p config.Probe, wasm []byte, name, kind string) (scheduler.Collector, error) {
	if err := checkSHA256(p, wasm); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	host, err := a.wasm.hostOf(a)
	if err != nil {
		return nil, err
	}
	mod, release, err := a.wasm.load(host, name, hex.EncodeToString(sum[:]), wasm)
	if err != nil {
		return nil, err
	}
	probe, err := host.NewProbe(mod, wasmProbeOptions(p, kind))
	if err != nil {
		release()
		return nil, err
	}
	return &wasmProbe{Probe: probe, release: release}, nil
}

// wasmProbeOptions maps a [[probe]] entry onto the host's options. Its
// Limits are those it runs under (withLimits); a max_depth of 0 is the
// default.
func wasmProbeOptions(p config.Probe, kind string) wasmhost.ProbeOptions {
	return wasmhost.ProbeOptions{
		Name:         p.Name,
		Kind:         kind,
		Grants:       hostfuncs.Grants(p.Allow),
		MaxMemory:    uint64(p.MaxMemory),
		Config:       p.Config,
		MaxDepth:     p.Limits.MaxDepth,
		KeepInstance: p.Interval.Duration < keepInstanceBelow,
	}
}

// wasmSource reads a probe's module: its bytes, a name for messages and
// the kind to run in it ("" for a file: its first probe).
func (a *Agent) wasmSource(p config.Probe) (wasm []byte, name, kind string, err error) {
	if k, ok := strings.CutPrefix(p.Source, "builtin:"); ok {
		wasm, err := bundle()
		return wasm, builtinwasm.Name, k, err
	}
	wasm, err = readModule(a.cfg, p)
	if err != nil {
		return nil, "", "", err
	}
	return wasm, filepath.Base(p.Source), p.Kind, nil
}

// hostOf returns the WASM host, making it on first use with its
// compilation cache in data_dir/wasm-cache.
func (w *wasmRuntime) hostOf(a *Agent) (*wasmhost.Host, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.host != nil {
		return w.host, nil
	}
	w.cacheDir = filepath.Join(a.cfg.Path(a.cfg.Agent.DataDir), "wasm-cache")
	w.log = a.log.With("component", "wasm")
	h, err := wasmhost.New(wasmhost.Options{CacheDir: w.cacheDir, Logger: w.log})
	if err != nil {
		return nil, err
	}
	w.host = h
	w.modules = map[string]*sharedModule{}
	return h, nil
}

// load compiles a module, or shares the one already loaded with the same
// bytes. release gives the reference back; the last one closes it.
func (w *wasmRuntime) load(host *wasmhost.Host, name, key string, wasm []byte) (*wasmhost.Module, func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sm, ok := w.modules[key]
	if !ok {
		// Compiling under the lock keeps two probes of one module from
		// compiling it twice; it is ~40 ms from the cache. The child's
		// compile is bounded by its CPU time; the load after it (from the
		// cache, or a compile here when the child failed) is not given a
		// deadline, so Load bounds the describe that follows the compile by
		// itself: a compile that took minutes on a busy machine left
		// describe no time when the two shared one.
		switch peak, err := compileInChild(context.Background(), w.cacheDir, wasm); {
		case err != nil:
			w.log.Warn("compiling in a child process failed; compiling here", "module", name, "err", err)
		case peak > 0:
			w.log.Info("compiled in a child process", "module", name, "child_peak_rss_mb", peak>>20)
		}
		mod, err := host.Load(context.Background(), name, wasm)
		if err != nil {
			return nil, nil, err
		}
		sm = &sharedModule{mod: mod}
		w.modules[key] = sm
		// Compiling a Go guest peaks at ~60 MB of Go heap that is garbage
		// right after; left to the runtime it goes back to the OS over
		// minutes (measured: agent RSS 100 MB, then 81 MB after 2.5 min).
		// One forced GC and scavenge now costs milliseconds.
		debug.FreeOSMemory()
	}
	sm.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if sm.refs--; sm.refs == 0 {
				delete(w.modules, key)
				sm.mod.Close(context.Background())
			}
		})
	}
	return sm.mod, release, nil
}

// close closes the host, and with it every module; the agent calls it
// after closing its probes.
func (w *wasmRuntime) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.host == nil {
		return nil
	}
	err := w.host.Close(context.Background())
	w.host, w.modules = nil, nil
	return err
}
