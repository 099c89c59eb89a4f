package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Limits on what one plugin may write to the agent's log. How many lines a
// minute is the probe's one limit on log records (hostfuncs.Caller.Emit),
// shared with its log host calls.
const (
	maxLine         = 4 << 10 // bytes of one line; the rest is cut
	lastWordsLines  = 16      // stderr lines kept to explain a crash
	lastWordsMaxLen = 240     // bytes of the line quoted in an error
)

// emitter writes a record the probe caused to the agent's log, under the
// probe's limit: *hostfuncs.Caller.
type emitter interface {
	Emit(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr)
}

// output turns what a plugin writes (stdout, stderr, go-plugin's own log)
// into log records carrying the probe's name, one per line, rate-limited.
// It keeps the last lines of stderr, to explain a crash in the run's error.
type output struct {
	emit emitter

	mu   sync.Mutex
	tail []string // last stderr lines, oldest first
}

func newOutput(e emitter) *output { return &output{emit: e} }

// line logs one line of a stream.
func (o *output) line(stream string, b []byte) {
	s := strings.ToValidUTF8(string(bytes.TrimRight(b, "\r")), "\uFFFD")
	if strings.TrimSpace(s) == "" {
		return
	}
	if len(s) > maxLine {
		s = s[:maxLine]
	}
	level := slog.LevelInfo
	msg := s
	var attrs []slog.Attr
	if stream == "stderr" {
		o.remember(s)
		if l, m, a, ok := parseHCLog(s); ok {
			// go-plugin's own log line from the plugin side.
			level, msg, attrs = l, m, a
		} else if strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
			level = slog.LevelError
		}
	}
	attrs = append(attrs, slog.String("stream", stream))
	o.emit.Emit(context.Background(), level, msg, attrs...)
}

func (o *output) remember(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tail) == lastWordsLines {
		o.tail = append(o.tail[:0], o.tail[1:]...)
	}
	o.tail = append(o.tail, s)
}

// lastWords returns the line of stderr that best explains a crash (the
// first panic or fatal error line, or the last line), as ": LINE", or "".
func (o *output) lastWords() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	pick := ""
	for _, s := range o.tail {
		if strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
			pick = s
			break
		}
	}
	if pick == "" {
		for i := len(o.tail) - 1; i >= 0 && pick == ""; i-- {
			pick = strings.TrimSpace(o.tail[i])
		}
	}
	if pick == "" {
		return ""
	}
	if len(pick) > lastWordsMaxLen {
		pick = pick[:lastWordsMaxLen] + "..."
	}
	return ": " + pick
}

// forget clears the remembered stderr, when a new process starts.
func (o *output) forget() {
	o.mu.Lock()
	o.tail = o.tail[:0]
	o.mu.Unlock()
}

// stream returns a writer that logs each line written to it.
func (o *output) stream(name string) *lineWriter { return &lineWriter{out: o, stream: name} }

// lineWriter splits what is written to it into lines. go-plugin writes to it
// from one goroutine per stream, but the lock keeps a stray writer safe.
type lineWriter struct {
	out    *output
	stream string

	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	start := 0
	for {
		i := bytes.IndexByte(w.buf[start:], '\n')
		if i < 0 {
			break
		}
		w.out.line(w.stream, w.buf[start:start+i])
		start += i + 1
	}
	rest := w.buf[start:]
	if len(rest) >= maxLine { // a line without end: log what we have
		w.out.line(w.stream, rest)
		rest = nil
	}
	w.buf = append(w.buf[:0], rest...)
	return len(p), nil
}

// parseHCLog reads a line go-plugin's hclog wrote as JSON:
// {"@level":"warn","@message":"...","@module":"...", more keys}.
func parseHCLog(s string) (slog.Level, string, []slog.Attr, bool) {
	if !strings.HasPrefix(s, "{") || !strings.Contains(s, `"@level":`) {
		return 0, "", nil, false
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return 0, "", nil, false
	}
	msg, _ := m["@message"].(string)
	lvl, _ := m["@level"].(string)
	var attrs []slog.Attr
	for _, k := range slices.Sorted(maps.Keys(m)) { // "@module" first
		v := m[k]
		switch k {
		case "@level", "@message", "@timestamp", "@caller":
		case "@module":
			attrs = append(attrs, slog.Any("module", v))
		default:
			attrs = append(attrs, slog.Any(k, v))
		}
	}
	return hclogLevel(lvl), msg, attrs, true
}

func hclogLevel(s string) slog.Level {
	switch s {
	case "trace", "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	}
	return slog.LevelError
}

// hclogBridge receives the agent-side go-plugin client's log (hclog, JSON
// lines) and passes it on at debug level: the lifecycle events that matter
// (start, exit, kill) pluginhost logs itself. Lines go-plugin relays from
// the plugin's stderr (module "go-plugin.<binary>") are dropped here, since
// the stderr writer already logged them.
type hclogBridge struct{ logger *slog.Logger }

func (b hclogBridge) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte{'\n'}) {
		_, msg, attrs, ok := parseHCLog(string(line))
		if !ok {
			continue
		}
		relayed := false
		for _, a := range attrs {
			if a.Key == "module" && a.Value.String() != hclogName {
				relayed = true
			}
		}
		if !relayed {
			b.logger.LogAttrs(context.Background(), slog.LevelDebug, "go-plugin: "+msg, attrs...)
		}
	}
	return len(p), nil
}

const hclogName = "go-plugin"
