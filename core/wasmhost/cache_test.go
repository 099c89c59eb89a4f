//go:build linux

package wasmhost

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

// A compilation cache that cannot be written (a full or read-only disk:
// issue #8, finding 4) costs a compile, not the module: it loads and runs,
// with a warning. Root writes through any permission bits, so the cache is
// on a tmpfs remounted read-only.
func TestCacheWriteFailureCompilesInMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
			t.Fatal("the test mounts a tmpfs: CI must run it as root")
		}
		t.Skip("the test mounts a tmpfs: run it as root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	// wazero makes its versioned folder when the cache is opened: made
	// now, it is there when the filesystem turns read-only.
	made, err := New(Options{CacheDir: filepath.Join(mnt, "made")})
	if err != nil {
		t.Fatal(err)
	}
	made.Close(context.Background())
	if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	wasm := guest(t, "probe.wat")
	for _, tt := range []struct{ name, dir, warning string }{
		{"files cannot be written", filepath.Join(mnt, "made"), "wasm compilation cache not writable: module compiled in memory"},
		{"folder cannot be made", filepath.Join(mnt, "new"), "wasm compilation cache unusable: compiling in memory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &logs{}
			h, err := New(Options{CacheDir: tt.dir, Logger: slog.New(l)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer h.Close(context.Background())
			m, err := h.Load(context.Background(), "probe.wat", wasm)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			p, err := h.NewProbe(m, ProbeOptions{Name: "wat"})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if r, err := p.Collect(context.Background(), sdk.Request{Probe: "wat"}); err != nil || len(r.Metrics) == 0 {
				t.Fatalf("collect: %+v, %v", r, err)
			}
			if l.find(tt.warning) == "" {
				t.Errorf("no %q warning in:\n%s", tt.warning, l.dump())
			}
		})
	}
}
