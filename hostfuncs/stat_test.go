package hostfuncs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// TestStat: stat answers under a read grant, with every protection
// read_file has: "..", symlinks and folders leading out, /proc/self/root,
// relative paths. A FIFO is looked at, not opened for reading (which
// would block).
func TestStat(t *testing.T) {
	dir := t.TempDir()
	granted := filepath.Join(dir, "granted")
	secret := filepath.Join(dir, "secret")
	os.Mkdir(granted, 0o755)
	os.Mkdir(secret, 0o700)
	f := filepath.Join(granted, "f")
	os.WriteFile(f, []byte("hello"), 0o640)
	syscall.Chmod(f, 0o4640) // os.Chmod spells setuid os.ModeSetuid
	mtime := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	os.Chtimes(f, mtime, mtime)
	os.WriteFile(filepath.Join(secret, "s"), []byte("secret!"), 0o600)
	os.Symlink(filepath.Join(secret, "s"), filepath.Join(granted, "out"))
	os.Symlink(secret, filepath.Join(granted, "outdir"))
	os.Symlink(f, filepath.Join(granted, "in"))
	syscall.Mkfifo(filepath.Join(granted, "fifo"), 0o644)

	c, _ := newCaller(t, Grants{Read: []string{granted}})
	ctx := ctxTimeout(t, 10*time.Second)
	stat := func(path string) (abi.FileInfo, string) {
		var r abi.FileInfo
		e := call(t, c, ctx, "stat", abi.StatRequest{Path: path}, &r)
		return r, e
	}
	want := abi.FileInfo{Name: "f", Type: "file", Size: 5, Mode: 0o4640, MTimeNS: mtime.UnixNano()}
	if r, e := stat(f); e != "" || r != want {
		t.Errorf("stat f: %+v %q; want %+v", r, e, want)
	}
	want.Name = "in" // a symlink in the grant is followed: the file's metadata
	if r, e := stat(filepath.Join(granted, "in")); e != "" || r != want {
		t.Errorf("stat in: %+v %q; want %+v", r, e, want)
	}
	if r, e := stat(granted); e != "" || r.Type != "dir" || r.Mode != 0o755 || r.Name != "granted" {
		t.Errorf("stat of the folder: %+v %q", r, e)
	}
	if r, e := stat(filepath.Join(granted, "fifo")); e != "" || r.Type != "other" || r.Size != 0 {
		t.Errorf("stat of a FIFO: %+v %q", r, e)
	}

	for _, tc := range []struct{ path, want string }{
		{filepath.Join(granted, "..", "secret", "s"), `denied: stat of "` + filepath.Join(secret, "s") + `" is not granted to probe "x"`},
		{filepath.Join(granted, "out"), `denied: stat of "` + filepath.Join(granted, "out") + `" (it resolves to "` + filepath.Join(secret, "s") + `") is not granted to probe "x"`},
		{filepath.Join(granted, "outdir", "s"), `denied: stat of "` + filepath.Join(granted, "outdir", "s") + `" (it resolves to "` + filepath.Join(secret, "s") + `")`},
		{filepath.Join(granted, "outdir"), `denied: stat of "` + filepath.Join(granted, "outdir") + `" (it resolves to "` + secret + `")`},
		{"/proc/self/root" + f, `denied: stat of "/proc/self/root` + f + `"`},
		{granted + strings.Repeat("/..", 20) + "/etc/shadow", `denied: stat of "/etc/shadow"`},
		{"relative/f", `stat: path "relative/f" is not absolute`},
		{filepath.Join(granted, "missing"), `no such file or directory`},
	} {
		if r, e := stat(tc.path); !strings.Contains(e, tc.want) || r.Size != 0 {
			t.Errorf("stat %s: %q %+v, want %q", tc.path, e, r, tc.want)
		}
	}
	if c.Denied() != 6 {
		t.Errorf("Denied() = %d, want 6", c.Denied())
	}
}

// TestStatNeverReachesSecrets: what read_file never reads, stat never
// looks at either (the secrets of secrets.go), under read = ["/proc"] and
// read = ["/"].
func TestStatNeverReachesSecrets(t *testing.T) {
	pid := os.Getpid()
	for _, prefix := range []string{"/proc", "/"} {
		c, _ := newCaller(t, Grants{Read: []string{prefix}})
		ctx := ctxTimeout(t, 10*time.Second)
		for _, path := range []string{
			"/proc/self/environ",
			fmt.Sprintf("/proc/%d/task/%d/environ", pid, pid),
			"/proc/self/mem",
			"/proc/self/fd",
			"/proc/self/root/proc/self/environ",
			"/proc/kallsyms",
		} {
			var r abi.FileInfo
			if e := call(t, c, ctx, "stat", abi.StatRequest{Path: path}, &r); !strings.HasPrefix(e, "denied: stat of ") || !strings.Contains(e, "never granted") {
				t.Errorf("read = [%q]: stat %s: %q %+v", prefix, path, e, r)
			}
		}
		var r abi.FileInfo
		if e := call(t, c, ctx, "stat", abi.StatRequest{Path: "/proc/self/status"}, &r); e != "" || r.Type != "file" || r.MTimeNS == 0 {
			t.Errorf("read = [%q]: stat /proc/self/status: %q %+v", prefix, e, r)
		}
	}
}

// TestListingSizesAndTruncation: a listing has each entry's own size and
// mtime (a symlink's, not its target's, even one leading out of the
// grant), stops at max_dir_entries and says so, and says nothing when
// the folder has exactly that many.
func TestListingSizesAndTruncation(t *testing.T) {
	dir := t.TempDir()
	granted := filepath.Join(dir, "granted")
	os.Mkdir(granted, 0o755)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 5 {
		name := filepath.Join(granted, fmt.Sprintf("f%d", i))
		os.WriteFile(name, make([]byte, 1000*(i+1)), 0o644)
		os.Chtimes(name, mtime, mtime)
	}
	outside := filepath.Join(dir, "big")
	os.WriteFile(outside, make([]byte, 123456), 0o600)
	os.Symlink(outside, filepath.Join(granted, "link"))

	list := func(g Grants) abi.ReadFileResponse {
		t.Helper()
		c, _ := newCaller(t, g)
		var r abi.ReadFileResponse
		if e := call(t, c, ctxTimeout(t, 10*time.Second), "read_file", abi.ReadFileRequest{Path: granted}, &r); e != "" {
			t.Fatalf("listing: %s", e)
		}
		return r
	}
	r := list(Grants{Read: []string{granted}})
	if len(r.Entries) != 6 || r.Truncated {
		t.Fatalf("listing: %+v", r)
	}
	for _, e := range r.Entries {
		switch {
		case e.Name == "link":
			if e.Type != "symlink" || e.Size != int64(len(outside)) {
				t.Errorf("a symlink out of the grant: %+v; want its own size %d, not its target's", e, len(outside))
			}
		case e.Type != "file" || e.Size != 1000*int64(e.Name[1]-'0'+1) || e.MTimeNS != mtime.UnixNano():
			t.Errorf("entry %+v", e)
		}
	}
	if r := list(Grants{Read: []string{granted}, MaxDirEntries: 4}); len(r.Entries) != 4 || !r.Truncated {
		t.Errorf("max_dir_entries 4 of 6: %d entries, truncated %v", len(r.Entries), r.Truncated)
	}
	if r := list(Grants{Read: []string{granted}, MaxDirEntries: 6}); len(r.Entries) != 6 || r.Truncated {
		t.Errorf("max_dir_entries 6 of 6: %d entries, truncated %v", len(r.Entries), r.Truncated)
	}

	// The default: 10,000 of 10,001.
	many := filepath.Join(dir, "many")
	os.Mkdir(many, 0o755)
	for i := range defaultDirEntries + 1 {
		if err := os.WriteFile(filepath.Join(many, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := newCaller(t, Grants{Read: []string{many}})
	var big abi.ReadFileResponse
	if e := call(t, c, ctxTimeout(t, 30*time.Second), "read_file", abi.ReadFileRequest{Path: many}, &big); e != "" || len(big.Entries) != defaultDirEntries || !big.Truncated {
		t.Errorf("default limit: %d entries, truncated %v, %q", len(big.Entries), big.Truncated, e)
	}
}

// TestListingLeavesSecretsUnlooked: in a listing of /proc/self, the
// entries that are secrets carry no metadata; the others do.
func TestListingLeavesSecretsUnlooked(t *testing.T) {
	c, _ := newCaller(t, Grants{Read: []string{"/proc"}})
	var r abi.ReadFileResponse
	if e := call(t, c, ctxTimeout(t, 10*time.Second), "read_file", abi.ReadFileRequest{Path: "/proc/self"}, &r); e != "" {
		t.Fatal(e)
	}
	seen := map[string]abi.DirEntry{}
	for _, e := range r.Entries {
		seen[e.Name] = e
	}
	if e, ok := seen["environ"]; !ok || e.MTimeNS != 0 {
		t.Errorf("environ: %+v (listed %v)", e, ok)
	}
	if e := seen["status"]; e.MTimeNS == 0 {
		t.Errorf("status: %+v", e)
	}
}

func TestMaxDirEntriesGrant(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{-1, "max_dir_entries: -1 is negative"},
		{maxDirEntriesCap + 1, "max_dir_entries: 1000001 is over the most a listing can hold (1000000)"},
	} {
		if err := (Grants{MaxDirEntries: tc.n}).Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("max_dir_entries %d: %v, want %q", tc.n, err, tc.want)
		}
	}
	if err := (Grants{MaxDirEntries: maxDirEntriesCap}).Check(); err != nil {
		t.Error(err)
	}
}

// BenchmarkListing lists a folder of 10,000 files through read_file, each
// entry with its size and mtime (fstatat on the opened folder), beside
// the two parts it is made of: reading the names and types alone (what a
// listing was before it had metadata) and the 10,000 fstatat calls alone.
//
//	go test ./hostfuncs -run '^$' -bench Listing -benchmem -count 6
func BenchmarkListing(b *testing.B) {
	dir := b.TempDir()
	for i := range defaultDirEntries {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("msg-%05d", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	h := New(nil)
	defer h.Close()
	c, err := h.NewCaller("x", Grants{Read: []string{dir}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := []byte(`{"path":"` + dir + `"}`)
	ctx := context.Background()
	b.Run("read_file", func(b *testing.B) {
		for b.Loop() {
			if out := c.CallWithin(ctx, "read_file", req, 64<<20); !bytes.HasPrefix(out, []byte(`{"entries":[`)) {
				b.Fatalf("%.200s", out)
			}
		}
	})
	b.Run("names-only", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			if des, err := f.ReadDir(-1); err != nil || len(des) != defaultDirEntries {
				b.Fatal(len(des), err)
			}
			f.Close()
		}
	})
	b.Run("fstatat-only", func(b *testing.B) {
		f, err := os.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		names, _ := f.Readdirnames(-1)
		for b.Loop() {
			var st unix.Stat_t
			for _, n := range names {
				if err := unix.Fstatat(int(f.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
