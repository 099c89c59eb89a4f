package hostfuncs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/tetratelabs/wazero/api"
)

// Limits on what a probe may write to the agent's log, so a chatty or
// hostile guest cannot flood it.
const (
	maxLogMessage   = 4 << 10 // bytes per message; longer ones are cut
	maxLogPerMinute = 120     // messages per probe per minute; the rest are counted
)

// logFunc is the host function "log": (level i32, ptr i32, len i32).
//
// It writes the UTF-8 message at ptr+len to the agent's log with the probe's
// name. level is a log/slog level: -4 debug, 0 info, 4 warn, 8 error. There
// is no result and no grant: every probe may log, at most maxLogPerMinute
// messages of maxLogMessage bytes.
func logFunc(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, size := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	c := callerFrom(ctx)
	if c == nil {
		return
	}
	if size > maxLogMessage {
		size = maxLogMessage
	}
	msg, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return
	}
	c.logAt(ctx, sdk.Level(level), string(msg))
}

// Log writes a message from the probe to the agent's log (sdk.Transport).
func (c *Caller) Log(level sdk.Level, msg string) {
	c.logAt(context.Background(), level, msg)
}

func (c *Caller) logAt(ctx context.Context, level sdk.Level, msg string) {
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage]
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	ok, dropped := c.logs.allow(time.Now())
	if dropped > 0 {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "probe log messages dropped", slog.Uint64("dropped", dropped), slog.Int("limit_per_minute", maxLogPerMinute))
	}
	if ok {
		c.logger.LogAttrs(ctx, slog.Level(level), msg, slog.String("source", "guest"))
	}
}

// logLimiter allows maxLogPerMinute messages per minute window.
type logLimiter struct {
	mu      sync.Mutex
	window  time.Time
	n       int
	dropped uint64
}

// allow reports whether a message may be written now, and how many were
// dropped in the previous window (reported once, when a new window opens).
func (l *logLimiter) allow(now time.Time) (ok bool, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Minute {
		dropped, l.dropped = l.dropped, 0
		l.window, l.n = now, 0
	}
	if l.n >= maxLogPerMinute {
		l.dropped++
		return false, dropped
	}
	l.n++
	return true, dropped
}
