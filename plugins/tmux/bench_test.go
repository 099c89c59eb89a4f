//go:build linux

package tmux

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// BenchmarkCollect measures one run against a real tmux server with 50
// sessions, under the default config's grants: the built-in WASM probe,
// the same source natively, and both in turn (the ratios make bench quotes).
//
//	go test ./plugins/tmux -run '^$' -bench Collect -benchtime 30x -count 5
func BenchmarkCollect(b *testing.B) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if testenv.InCI() {
			b.Fatalf("tmux is not installed; CI requires it (sudo scripts/test-deps.sh): %v", err)
		}
		b.Skipf("tmux is not installed: %v", err)
	}
	m := testenv.LoadProbe(b, "./cmd", sdk.Info{Name: "tmux", Version: Version})
	// A short folder: a unix socket path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "tmux-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	srv := &tmuxServer{t: b, socket: filepath.Join(dir, "s")}
	const sessions = 50
	for i := range sessions {
		srv.run("new-session", "-d", "-s", fmt.Sprintf("s%02d", i), "-x", "80", "-y", "24", "sleep 600")
	}
	b.Cleanup(func() { exec.Command("tmux", "-S", srv.socket, "kill-server").Run() })

	grants := defaultGrants(b)
	cfg := map[string]any{"socket": srv.socket}
	wasm := m.Probe(wasmhost.ProbeOptions{Name: "tmux-bench", Grants: grants, Config: cfg, MaxMemory: 16 << 20})
	h := hostfuncs.New(nil)
	defer h.Close()
	c, err := h.NewCaller("tmux", grants, nil)
	if err != nil {
		b.Fatal(err)
	}
	once := func(p sdk.Probe, native bool) func() error {
		return func() error {
			if native {
				defer sdk.SetTransport(sdk.SetTransport(c))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := p.Collect(ctx, sdk.Request{Probe: "tmux", Config: cfg})
			if err == nil && value(r, "tmux.sessions") != sessions {
				err = fmt.Errorf("%s: %v sessions, want %d", r.Message, value(r, "tmux.sessions"), sessions)
			}
			return err
		}
	}
	b.Run("wasm", func(b *testing.B) { sdktest.PerRun(b, once(wasm, false)) })
	b.Run("native", func(b *testing.B) { sdktest.PerRun(b, once(New(), true)) })
	b.Run("wasm-vs-native", func(b *testing.B) {
		sdktest.SideBySide(b, "wasm", once(wasm, false), "native", once(New(), true))
	})
}
