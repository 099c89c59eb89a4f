package wasmhost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The test guests are built from testdata at test time, never committed.
var guestDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmhost-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	guestDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Map // guest name -> *sync.Once
	buildErr  sync.Map // guest name -> error
)

// guest returns the bytes of a test guest: "goguest" is built with the Go
// toolchain, NAME.wat with wat2wasm (apt-get install -y wabt).
func guest(t testing.TB, name string) []byte {
	t.Helper()
	out := filepath.Join(guestDir, strings.TrimSuffix(name, ".wat")+".wasm")
	once, _ := buildOnce.LoadOrStore(name, new(sync.Once))
	once.(*sync.Once).Do(func() {
		var cmd *exec.Cmd
		if strings.HasSuffix(name, ".wat") {
			wat2wasm, err := exec.LookPath("wat2wasm")
			if err != nil {
				buildErr.Store(name, fmt.Errorf("wat2wasm not found (apt-get install -y wabt): %w", err))
				return
			}
			cmd = exec.Command(wat2wasm, filepath.Join("testdata", name), "-o", out)
		} else {
			cmd = exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, "./testdata/"+name)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr.Store(name, fmt.Errorf("build %s: %w\n%s", name, err, b))
		}
	})
	if err, ok := buildErr.Load(name); ok {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logs records what the host logs, for asserting on it.
type logs struct {
	mu      sync.Mutex
	records []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }

func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logs) WithAttrs(as []slog.Attr) slog.Handler { return &withAttrs{l, as} }
func (l *logs) WithGroup(string) slog.Handler         { return l }

// find returns the first record containing every part, or "".
func (l *logs) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, r := range l.records {
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		return r
	}
	return ""
}

func (l *logs) count(part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if strings.Contains(r, part) {
			n++
		}
	}
	return n
}

func (l *logs) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.records, "\n")
}

type withAttrs struct {
	l  *logs
	as []slog.Attr
}

func (w *withAttrs) Enabled(context.Context, slog.Level) bool { return true }
func (w *withAttrs) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(w.as...)
	return w.l.Handle(ctx, r)
}
func (w *withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return &withAttrs{w.l, append(append([]slog.Attr(nil), w.as...), as...)}
}
func (w *withAttrs) WithGroup(string) slog.Handler { return w }

// newHost returns a Host whose log is recorded, with a cache shared by the
// tests of this run so the Go guest compiles once.
func newHost(t testing.TB) (*Host, *logs) {
	t.Helper()
	l := &logs{}
	h, err := New(Options{CacheDir: filepath.Join(guestDir, "cache"), Logger: slog.New(l)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, l
}

func load(t testing.TB, h *Host, name string) *Module {
	t.Helper()
	m, err := h.Load(context.Background(), name, guest(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newProbe(t testing.TB, h *Host, m *Module, o ProbeOptions) *Probe {
	t.Helper()
	p, err := h.NewProbe(m, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
