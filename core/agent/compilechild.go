package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
)

// Compiling in a child process.
//
// A cold compile of the built-in bundle makes ~50 MB of Go heap that is
// garbage right after, and the agent's RSS peaks at ~120 MB although it
// settles near 70 (docs/PERFORMANCE.md). So a binary that allows it
// (RunCompileChild at the top of main) compiles a module whose compiled
// code is not yet in the on-disk cache in a short-lived copy of itself:
// the child compiles into the cache and exits, and the agent loads the
// result from the cache as on a warm start. The child's peak is the host's
// for a few seconds; the agent's own stays near its steady state.

// compileChildEnv holds the cache folder of a compile child: set, the
// process is one.
const compileChildEnv = "BARBOSSA_COMPILE_CHILD"

// childHangTimeout ends a compile child that hangs. Its compile is bounded
// by the CPU time it may use (loadTimeout, a limit the child sets on
// itself); this wall-clock bound is much longer, so that a slow compile on
// a starved machine is not taken for a hang.
const childHangTimeout = 10 * loadTimeout

// maxChildModule bounds what a compile child reads from its stdin.
const maxChildModule = 256 << 20

// reexec is set when the binary handles compile children.
var reexec atomic.Bool

// RunCompileChild is the first call of a main that lets the agent compile
// WASM modules in a child process: in a compile child it compiles the
// module on stdin into the cache and exits; otherwise it returns at once.
func RunCompileChild() {
	dir := os.Getenv(compileChildEnv)
	if dir == "" {
		reexec.Store(true)
		return
	}
	if err := compileChild(dir, os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "barbossa: compile child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// compileChild compiles the module read from in into the cache in dir and
// leaves a mark that it is there.
func compileChild(dir string, in io.Reader) error {
	wasm, err := io.ReadAll(io.LimitReader(in, maxChildModule+1))
	if err != nil {
		return fmt.Errorf("read the module: %w", err)
	}
	if len(wasm) > maxChildModule {
		return fmt.Errorf("module over %d bytes", maxChildModule)
	}
	// The compile is bounded by the CPU time it uses: the kernel kills the
	// child past loadTimeout of it. Wall time would count the time a busy
	// machine gives the child no CPU (measured under the race detector at
	// a load of 16 on 2 cores: 27 s of CPU took 247 s). Load bounds the
	// describe after the compile by itself.
	secs := uint64(loadTimeout / time.Second)
	if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: secs, Max: secs}); err != nil {
		return fmt.Errorf("limit the CPU time: %w", err)
	}
	h, err := wasmhost.New(wasmhost.Options{CacheDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx := context.Background()
	m, err := h.Load(ctx, "module", wasm)
	if err != nil {
		return err
	}
	m.Close(ctx)
	if err := h.Close(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return os.WriteFile(compiledMark(dir, wasm), nil, 0o600)
}

// compiledMark is the file a compile child leaves in the cache folder once
// the module is compiled there: named by the module and the wazero version,
// whose cache another version does not read.
func compiledMark(dir string, wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return filepath.Join(dir, "compiled-"+hex.EncodeToString(sum[:])+"-"+wazeroVersion())
}

// wazeroVersion is the version of wazero built into this binary.
var wazeroVersion = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				return d.Version
			}
		}
	}
	return "unknown"
})

// compileInChild compiles wasm into the cache in dir in a child process,
// unless a child already has; it returns the child's peak RSS in bytes (0
// when none ran). The agent then loads the module from the cache; when the
// child fails, the agent compiles in-process as before.
func compileInChild(ctx context.Context, dir string, wasm []byte) (peak int64, err error) {
	if !reexec.Load() {
		return 0, nil
	}
	if _, err := os.Stat(compiledMark(dir, wasm)); err == nil {
		return 0, nil
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, childHangTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), compileChildEnv+"="+dir)
	cmd.Stdin = bytes.NewReader(wasm)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = ru.Maxrss << 10 // KiB on Linux
		}
	}
	if err != nil {
		return peak, fmt.Errorf("compile child: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if _, err := os.Stat(compiledMark(dir, wasm)); err != nil {
		return peak, errors.New("compile child: exited without compiling")
	}
	return peak, nil
}
