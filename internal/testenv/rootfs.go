//go:build linux

package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootfsRecipe identifies how the cached rootfs is made; the stamp file in
// the cache holds it, and a cache with another stamp is rebuilt. Bump the
// version when changing buildRootfs.
const rootfsRecipe = "debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm; no hostname, empty machine-id; v1"

const rootfsStamp = ".barbossa-testenv-rootfs"

// CacheDir holds what is built once and reused across test runs (the
// debootstrapped rootfs): $BARBOSSA_TEST_CACHE or /var/cache/barbossa-test.
func CacheDir() string {
	if v := os.Getenv("BARBOSSA_TEST_CACHE"); v != "" {
		return absPath(v)
	}
	return "/var/cache/barbossa-test"
}

// debianMirror is where debootstrap downloads from.
func debianMirror() string {
	if v := os.Getenv("BARBOSSA_DEBIAN_MIRROR"); v != "" {
		return v
	}
	return "http://deb.debian.org/debian"
}

// Rootfs returns the cached minimal Debian bookworm root filesystem with
// systemd and dbus, building it the first time (about a minute; see
// README.md). Concurrent test binaries wait for one build through a file
// lock. The directory is shared: never write to it, boot a copy
// (StartSystemd mounts an overlay on it).
func Rootfs(t testing.TB) string {
	t.Helper()
	requireRoot(t)
	dir := filepath.Join(CacheDir(), "rootfs-bookworm")
	if rootfsReady(dir) {
		return dir
	}
	if _, err := lookTool("debootstrap"); err != nil {
		missing(t, "debootstrap (to build the systemd test rootfs once into "+dir+")",
			installHint+" or apt-get install --no-install-recommends debootstrap")
	}
	t.Logf("testenv: %s not built yet: building it (about a minute, once) or waiting for the test binary that is", dir)
	start := time.Now()
	built, err := ensureRootfs(dir)
	if err != nil {
		t.Fatalf("testenv: build rootfs: %v", err)
	}
	if built {
		t.Logf("testenv: debootstrapped %s in %s (once; reused from now on)", dir, time.Since(start).Round(time.Second))
	}
	return dir
}

func rootfsReady(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, rootfsStamp))
	return err == nil && strings.TrimSpace(string(b)) == rootfsRecipe
}

// ensureRootfs builds dir unless it is there; built says whether this call
// built it. The build goes to a temporary name renamed into place, so a
// crash mid-way never leaves a half rootfs under the final name.
func ensureRootfs(dir string) (built bool, err error) {
	cache := filepath.Dir(dir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return false, fmt.Errorf("create cache dir: %w", err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, fmt.Errorf("open lock: %w", err)
	}
	defer lock.Close() // and so unlocks
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return false, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if rootfsReady(dir) {
		return false, nil // another test binary built it while we waited
	}

	// Leftovers of builds that died: debootstrap mounts proc and sys in
	// its target and a killed one leaves them.
	olds, _ := filepath.Glob(dir + ".tmp-*")
	stale, _ := filepath.Glob(dir + ".old-*")
	for _, o := range append(olds, stale...) {
		_ = unmountUnder(o)
		_ = os.RemoveAll(o)
	}

	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	if err := buildRootfs(tmp, filepath.Join(cache, "debootstrap.log")); err != nil {
		_ = unmountUnder(tmp)
		_ = os.RemoveAll(tmp)
		return false, err
	}
	if _, err := os.Stat(dir); err == nil {
		// Built by an older recipe. Booted copies of it are overlays with
		// it as lower dir: move it aside rather than delete under them.
		if err := os.Rename(dir, fmt.Sprintf("%s.old-%d", dir, os.Getpid())); err != nil {
			return false, fmt.Errorf("move old rootfs aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return false, fmt.Errorf("rename rootfs into place: %w", err)
	}
	return true, nil
}

func buildRootfs(dir, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create debootstrap log: %w", err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	debootstrap, err := lookTool("debootstrap")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, debootstrap,
		"--variant=minbase", "--include=systemd,systemd-sysv,dbus",
		"bookworm", dir, debianMirror())
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap: %w (log %s):\n%s", err, logPath, tail(logPath, 15))
	}
	// debootstrap copies the host's hostname; without the file systemd
	// keeps the one nspawn sets from the machine name.
	if err := os.Remove(filepath.Join(dir, "etc/hostname")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove hostname: %w", err)
	}
	// Every booted copy gets its own machine id (from nspawn's container
	// UUID) when the file is empty, instead of all sharing the build's.
	if err := os.WriteFile(filepath.Join(dir, "etc/machine-id"), nil, 0o444); err != nil {
		return fmt.Errorf("empty machine-id: %w", err)
	}
	dbusID := filepath.Join(dir, "var/lib/dbus/machine-id")
	_ = os.Remove(dbusID)
	if err := os.Symlink("/etc/machine-id", dbusID); err != nil {
		return fmt.Errorf("link dbus machine-id: %w", err)
	}
	// The downloaded .debs are not needed to boot.
	debs, _ := filepath.Glob(filepath.Join(dir, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		_ = os.Remove(d)
	}
	if err := os.WriteFile(filepath.Join(dir, rootfsStamp), []byte(rootfsRecipe+"\n"), 0o644); err != nil {
		return fmt.Errorf("write stamp: %w", err)
	}
	return nil
}
