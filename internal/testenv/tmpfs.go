//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a new folder and returns it; the
// test's cleanup unmounts it. It needs root (a skip, or a failure under
// CI). A small filesystem the test can fill is how the store's full-disk
// behaviour is tested for real: a full tmpfs answers writes through mmap
// with SIGBUS, as a full disk does.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "root (the test mounts a tmpfs)", "run the tests as root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("testenv: mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// Lazily: a process the test started may still hold a file open.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("testenv: unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file in dir until the filesystem has at most leave bytes
// free, and returns its path (remove it to free the space again).
func Fill(t testing.TB, dir string, leave uint64) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("fill-%d", len(Filled(dir))))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testenv: fill %s: %v", dir, err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatalf("testenv: statfs %s: %v", dir, err)
		}
		free := st.Bavail * uint64(st.Bsize)
		if free <= leave {
			return path
		}
		n := min(uint64(len(chunk)), free-leave)
		if _, err := f.Write(chunk[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("testenv: fill %s: %v", dir, err)
		}
	}
}

// Filled lists the files Fill wrote in dir.
func Filled(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "fill-*"))
	return m
}

// FreeBytes is the space left on dir's filesystem for an unprivileged write.
func FreeBytes(t testing.TB, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("testenv: statfs %s: %v", dir, err)
	}
	return st.Bavail * uint64(st.Bsize)
}
