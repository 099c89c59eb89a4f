package wasmhost

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

// TestGuestStatAndListing: a Go guest learns a file's size and mode with
// sdk.Stat and sums a folder's sizes with sdk.ReadDir, which says when the
// listing stopped at the probe's max_dir_entries.
func TestGuestStatAndListing(t *testing.T) {
	h, _ := newHost(t)
	m := load(t, h, "goguest")
	dir := t.TempDir()
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), make([]byte, 100), 0o640)
	}
	calls := map[string]any{"calls": []any{
		map[string]any{"stat": filepath.Join(dir, "3")},
		map[string]any{"list": dir},
	}}
	for _, tc := range []struct {
		max, entries int
		bytes        float64
		truncated    bool
	}{{0, 5, 500, false}, {3, 3, 300, true}} {
		p := newProbe(t, h, m, ProbeOptions{Name: "files", Grants: hostfuncs.Grants{Read: []string{dir}, MaxDirEntries: tc.max}, Config: calls})
		r := mustCollect(t, p)
		if e := entity(t, r, 0); e.Attrs["size"] != float64(100) || e.Attrs["type"] != "file" || e.Attrs["mode"] != "-rw-r-----" {
			t.Errorf("stat: %v", e.Attrs)
		}
		e := entity(t, r, 1)
		if e.Attrs["entries"] != float64(tc.entries) || e.Attrs["bytes"] != tc.bytes || (e.Attrs["truncated"] == true) != tc.truncated {
			t.Errorf("max_dir_entries %d: list: %v; want %d entries, %v bytes, truncated %v", tc.max, e.Attrs, tc.entries, tc.bytes, tc.truncated)
		}
	}
}

// TestHostileStat: a guest granted one folder stats its way out of it as
// an attacker would ("..", a symlink planted in the folder, /proc/self/root)
// and at /proc's secrets under read = ["/"]: every call is denied and
// nothing of the target comes back.
func TestHostileStat(t *testing.T) {
	h, _ := newHost(t)
	m := load(t, h, "goguest")
	dir := t.TempDir()
	granted := filepath.Join(dir, "granted")
	os.Mkdir(granted, 0o755)
	os.WriteFile(filepath.Join(dir, "key"), make([]byte, 4242), 0o600)
	os.Symlink(filepath.Join(dir, "key"), filepath.Join(granted, "planted"))
	os.Symlink(dir, filepath.Join(granted, "up"))
	for _, tc := range []struct {
		grant string
		paths []string
	}{
		{granted, []string{granted + "/../key", granted + "/planted", granted + "/up/key", "/proc/self/root" + dir + "/key", "/etc/shadow"}},
		{"/", []string{"/proc/self/environ", "/proc/self/mem", "/proc/self/root/proc/self/environ", fmt.Sprintf("/proc/%d/maps", os.Getpid())}},
	} {
		var calls []any
		for _, path := range tc.paths {
			calls = append(calls, map[string]any{"stat": path})
		}
		p := newProbe(t, h, m, ProbeOptions{Name: "nosy", Grants: hostfuncs.Grants{Read: []string{tc.grant}}, Config: map[string]any{"calls": calls}})
		r := mustCollect(t, p)
		for i, path := range tc.paths {
			e := entity(t, r, i)
			if msg, _ := e.Attrs["error"].(string); e.Attrs["denied"] != true || e.Attrs["size"] != float64(0) || !strings.Contains(msg, "stat of") {
				t.Errorf("read = [%q]: stat %s: %v", tc.grant, path, e.Attrs)
			}
		}
		if got := p.Denied(); got != uint64(len(tc.paths)) {
			t.Errorf("read = [%q]: Denied() = %d, want %d", tc.grant, got, len(tc.paths))
		}
	}
}

// TestOldGuestGetsTheNewListing: a guest built against ABI version 1
// before stat existed (it imports read_file and log only) loads, runs,
// and gets a listing with the new fields, cut at max_dir_entries.
func TestOldGuestGetsTheNewListing(t *testing.T) {
	h, logs := newHost(t)
	m := load(t, h, "listing_v1.wat")
	p := newProbe(t, h, m, ProbeOptions{Name: "old", Grants: hostfuncs.Grants{Read: []string{"/proc"}, MaxDirEntries: 1}})
	if r := mustCollect(t, p); r.Status != sdk.StatusOK {
		t.Fatalf("report %+v", r)
	}
	if logs.find(`{"entries":[{"name":"`, `"type":"dir","size":`, `"mtime_ns":`, `}],"truncated":true}`, "probe=old") == "" {
		t.Errorf("the old guest's listing:\n%s", logs.dump())
	}
}
