package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// DefaultMaxMemory is the linear memory a probe may use when its
// max_memory is not set. A Go guest starts at about 2.6 MiB (41 pages) and
// its memory is resident only as far as it is used.
const DefaultMaxMemory = 64 << 20

const pageSize = 65536

// Options configure a Host.
type Options struct {
	// CacheDir keeps compiled code between agent runs (a Go guest compiles
	// in ~0.9 s cold, ~40 ms from the cache). Empty: in memory only.
	CacheDir string
	// Logger receives guest output, guest log messages and denied calls.
	// nil: slog.Default().
	Logger *slog.Logger
}

// Host compiles and runs WASM probes in one wazero runtime. Each probe's
// memory limit is enforced per instance (see guestMemory), since wazero's
// own limit applies to a whole runtime.
type Host struct {
	logger   *slog.Logger
	cache    wazero.CompilationCache
	cacheDir string // absolute; "" when compiled code is kept in memory only
	funcs    *hostfuncs.Host
	rt       wazero.Runtime

	mu     sync.Mutex
	closed bool
}

// New returns a Host. Close it to free the runtime and the cache.
func New(o Options) (*Host, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// The cache only saves time: a folder that cannot be made (a full
	// disk, a read-only one) costs a compile per start, not the probes.
	var cache wazero.CompilationCache
	cacheDir := ""
	if o.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(o.CacheDir)
		if err != nil {
			logger.Warn("wasm compilation cache unusable: compiling in memory", "dir", o.CacheDir, "err", err)
		} else {
			cache = c
			cacheDir, _ = filepath.Abs(o.CacheDir)
		}
	}
	if cache == nil {
		cache = wazero.NewCompilationCache()
	}
	ctx := context.Background()
	// NewRuntimeConfig is the compiler wherever wazero has one.
	// WithCloseOnContextDone is what lets a deadline stop a looping guest.
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	funcs := hostfuncs.New(logger)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Host{logger: logger, cache: cache, cacheDir: cacheDir, funcs: funcs, rt: rt}, nil
}

// Close closes the runtime, and with it every module and instance.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	return errors.Join(h.rt.Close(ctx), h.cache.Close(ctx), h.funcs.Close())
}

// cacheWriteFailed reports whether err is about a file in the compilation
// cache (a full disk, a read-only folder), not about the module.
func (h *Host) cacheWriteFailed(err error) bool {
	if h.cacheDir == "" {
		return false
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Path, h.cacheDir+string(filepath.Separator))
	case errors.As(err, &le):
		return strings.HasPrefix(le.New, h.cacheDir+string(filepath.Separator))
	}
	return false
}

// memoryLimit is a probe's max_memory in bytes, rounded up to whole pages.
func memoryLimit(bytes uint64) uint64 {
	if bytes == 0 {
		bytes = DefaultMaxMemory
	}
	p := (bytes + pageSize - 1) / pageSize
	return min(p, 65536) * pageSize
}
