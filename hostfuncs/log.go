package hostfuncs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Limits on what a probe may write to the agent's log (its log messages
// and its output together), so a chatty or hostile guest cannot flood it.
const (
	// MaxLogMessage is the bytes of a message kept; the rest is cut. A
	// runtime reads no more than this of a guest's message.
	MaxLogMessage   = 4 << 10
	maxLogPerMinute = 120 // messages per probe per minute; the rest are counted
)

// Log is the host function "log" (sdk.Transport): it writes the probe's
// UTF-8 message to the agent's log with the probe's name. level is a
// log/slog level: -4 debug, 0 info, 4 warn, 8 error. There is no result and
// no grant: every probe may log, at most maxLogPerMinute messages of
// MaxLogMessage bytes.
func (c *Caller) Log(level sdk.Level, msg string) {
	c.LogContext(context.Background(), level, msg)
}

// LogContext is Log with the context of the guest call that logs.
func (c *Caller) LogContext(ctx context.Context, level sdk.Level, msg string) {
	c.Emit(ctx, slog.Level(level), msg, slog.String("source", "guest"))
}

// Output writes a line the guest printed on stream (stdout or stderr) to
// the agent's log: a runtime hands each line of a probe's output to it, so
// the output shares Log's limit and cannot flood the log either.
func (c *Caller) Output(ctx context.Context, stream, line string) {
	if len(line) > MaxLogMessage {
		line = line[:MaxLogMessage]
	}
	c.Emit(ctx, slog.LevelInfo, "guest output", slog.String("stream", stream), slog.String("text", strings.ToValidUTF8(line, "\uFFFD")))
}

// Emit writes a record the probe caused (a log message, a line of its
// output, a note about either) to the agent's log with the probe's name,
// under the probe's one limit of maxLogPerMinute records; msg is cut to
// MaxLogMessage bytes. What is over the limit is counted, and reported in
// one warning when the next minute's window opens.
func (c *Caller) Emit(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if len(msg) > MaxLogMessage {
		msg = msg[:MaxLogMessage]
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	ok, dropped := c.logs.allow(time.Now())
	if dropped > 0 {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "probe log messages dropped", slog.Uint64("dropped", dropped), slog.Int("limit_per_minute", maxLogPerMinute))
	}
	if ok {
		c.logger.LogAttrs(ctx, level, msg, attrs...)
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
