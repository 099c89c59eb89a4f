package hostfuncs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Caller is one probe as the host functions see it: its name, its grants
// and its count of denied calls. It is safe for concurrent use.
type Caller struct {
	host   *Host
	probe  string
	policy *policy
	logger *slog.Logger
	denied atomic.Uint64
	logs   logLimiter

	// warned holds the denials already logged at warn: a probe that asks
	// for the same thing every run is counted every time but warned about
	// once, so a missing grant does not flood the log.
	warnedMu sync.Mutex
	warned   map[string]bool
}

// maxWarned bounds the remembered denials; past it, every denial warns.
const maxWarned = 256

// Caller implements sdk.Transport, so a native probe (or a test) can call
// the host functions in-process with the same grant checks.
var _ sdk.Transport = (*Caller)(nil)

// NewCaller checks and resolves grants for the probe named probe. Programs
// named in Exec are looked up in PATH now; the error lists every bad grant.
func (h *Host) NewCaller(probe string, g Grants, logger *slog.Logger) (*Caller, error) {
	p, err := compile(g)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", probe, err)
	}
	if logger == nil {
		logger = h.logger
	}
	return &Caller{host: h, probe: probe, policy: p, logger: logger.With("probe", probe)}, nil
}

// Probe returns the probe's name.
func (c *Caller) Probe() string { return c.probe }

// Close closes the probe's D-Bus connections. Calls after it connect
// again.
func (c *Caller) Close() error { return c.host.closeBuses(c) }

// Denied returns how many host calls the grants refused so far.
func (c *Caller) Denied() uint64 { return c.denied.Load() }

// Call runs host function fn (exec, http, dbus, read_file) with a JSON
// request and returns its JSON response: the result, or {"error": "..."}.
// Its answers are bounded by MaxAnswer. The error result is always nil; it
// is there to meet sdk.Transport.
func (c *Caller) Call(ctx context.Context, fn string, req []byte) ([]byte, error) {
	return c.CallWithin(ctx, fn, req, MaxAnswer), nil
}

// CallWithin is Call for a guest that can take at most room bytes of
// answers (capped at MaxAnswer): an answer, or a batch's answers together,
// that would be larger is an error to the guest, found before it is built
// (see callBudget).
func (c *Caller) CallWithin(ctx context.Context, fn string, req []byte, room int64) []byte {
	f, ok := hostFuncs[fn]
	if !ok {
		return errorJSON(fmt.Errorf("unknown host function %s", quote(fn)))
	}
	if err := ctx.Err(); err != nil {
		return errorJSON(fmt.Errorf("timeout: %s: the run's deadline has passed", fn))
	}
	b := newBudget(room)
	if batch, isBatch := abi.DecodeBatch(req); isBatch {
		if len(batch.Batch) > maxBatch {
			return errorJSON(fmt.Errorf("%s: batch of %d requests is over the limit of %d", fn, len(batch.Batch), maxBatch))
		}
		return c.batch(ctx, f, batch, b)
	}
	return c.one(ctx, f, req, b)
}

// one runs a single request and returns its answer or error.
func (c *Caller) one(ctx context.Context, f hostFunc, req []byte, b *callBudget) []byte {
	if err := ctx.Err(); err != nil {
		return errorJSON(fmt.Errorf("timeout: %s: the deadline has passed", f.name))
	}
	out, err := f.call(ctx, c, req, b)
	if err != nil {
		return errorJSON(err)
	}
	return out
}

// deny logs and counts a refused call and returns the error the guest sees.
func (c *Caller) deny(ctx context.Context, fn, what string) error {
	c.denied.Add(1)
	level := slog.LevelWarn
	if !c.firstDenial(fn + " " + what) {
		level = slog.LevelDebug
	}
	c.logger.LogAttrs(ctx, level, "host call denied", slog.String("func", fn), slog.String("denied", what))
	return fmt.Errorf("denied: %s is not granted to probe %s", what, quote(c.probe))
}

// firstDenial reports whether key is denied for the first time.
func (c *Caller) firstDenial(key string) bool {
	c.warnedMu.Lock()
	defer c.warnedMu.Unlock()
	if c.warned[key] {
		return false
	}
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if len(c.warned) < maxWarned {
		c.warned[key] = true
	}
	return true
}

// timeout returns the budget of a call: want (0: none), cut to the time left
// before ctx's deadline, with fallback when neither is set.
func timeout(ctx context.Context, want time.Duration, fallback time.Duration) time.Duration {
	d := want
	if d <= 0 {
		d = fallback
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	return d
}
