package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/tetratelabs/wazero"
)

// maxOutput is how much a guest may write to stdout, and to stderr, in one
// run; the rest is counted and dropped. The lines kept are logged under the
// probe's log limit (hostfuncs.Caller.Output).
const maxOutput = 64 << 10

// moduleConfig is the configuration of every probe instance: no
// filesystem, no environment, real clocks (the fake clock stalls a Go
// guest's GC), real randomness, sleeps cut short by the run's deadline, and
// output captured.
func moduleConfig(name string, out *outputs, sl *sleeper) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName(""). // anonymous: any number of instances side by side
		WithArgs(name).
		WithStartFunctions("_initialize").
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sl.sleep).
		WithRandSource(rand.Reader).
		WithStdout(out.stdout).
		WithStderr(out.stderr)
}

// sleeper is an instance's nanosleep. wazero's poll_oneoff does not watch
// the context, so a guest in time.Sleep(time.Hour) would hold its run past
// any deadline; this one wakes when the current run's context is done.
type sleeper struct {
	mu   sync.Mutex
	done <-chan struct{}
}

func (s *sleeper) start(ctx context.Context) {
	s.mu.Lock()
	s.done = ctx.Done()
	s.mu.Unlock()
}

func (s *sleeper) sleep(ns int64) {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// outputs are an instance's stdout and stderr. What the guest prints is
// logged through its Caller, one record per line, under the same per-probe
// limit as its log messages.
type outputs struct {
	caller         *hostfuncs.Caller
	stdout, stderr *output
}

func newOutputs(c *hostfuncs.Caller) *outputs {
	return &outputs{
		caller: c,
		stdout: &output{stream: "stdout"},
		stderr: &output{stream: "stderr"},
	}
}

// flush writes what the guest printed to the log, and empties the buffers
// for the next run.
func (o *outputs) flush() {
	o.stdout.flush(o.caller)
	o.stderr.flush(o.caller)
}

// output keeps the first maxOutput bytes written in a run.
type output struct {
	stream  string
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

func (w *output) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := maxOutput - w.buf.Len()
	if len(p) > room {
		w.dropped += len(p) - max(room, 0)
		if room > 0 {
			w.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return w.buf.Write(p)
}

func (w *output) flush(c *hostfuncs.Caller) {
	w.mu.Lock()
	text, dropped := w.buf.String(), w.dropped
	w.buf.Reset()
	w.dropped = 0
	w.mu.Unlock()
	ctx := context.Background()
	for line := range strings.Lines(text) {
		if line = strings.TrimRight(line, "\r\n"); strings.TrimSpace(line) != "" {
			c.Output(ctx, w.stream, line)
		}
	}
	if dropped > 0 {
		c.Emit(ctx, slog.LevelWarn, "guest output truncated", slog.String("stream", w.stream), slog.Int("dropped_bytes", dropped), slog.Int("limit_bytes", maxOutput))
	}
}

// tail returns the last lines written in this run, formatted to end an
// error message (": fatal error: out of memory"), or "".
func (w *output) tail() string {
	w.mu.Lock()
	text := strings.TrimSpace(w.buf.String())
	w.mu.Unlock()
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	// A Go runtime crash ends with a goroutine dump: its first line says why.
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime: out of memory") {
			return " (guest stderr: " + strings.TrimSpace(l) + ")"
		}
	}
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 200 {
		last = last[:200] + "..."
	}
	return " (guest stderr: " + last + ")"
}
