package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// nobody is the uid an attacker's files have in these tests.
const nobody = 65534

// requireRoot stops a test that must chown files: a skip on a developer's
// machine, a failure under CI (which runs as root).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testenv.InCI() {
		t.Fatal("this test chowns files to another user and must run as root under CI")
	}
	t.Skip("this test chowns files to another user: run it as root")
}

// TestHostileDropInsRefused plays what an attacker with write access
// somewhere near the probes folder would try against a root agent: a
// world-writable folder holding drop-ins of theirs that grant
// exec = ["sh"] and read = ["/"], files of theirs in a trusted folder, a
// group-writable module, a symlink out of the folder, a 200 MiB module.
// Each is refused with its reason, logged once and listed by
// DropInProblems; the same files load once the folder and files are the
// agent's, and a symlink inside the folder is followed. The real files and
// the agent's real watcher run in a synctest bubble, poll by poll.
func TestHostileDropInsRefused(t *testing.T) {
	requireRoot(t)
	evilWASM, outWASM, inWASM := watProbe(t, "evil", "pwned"), watProbe(t, "out", "followed"), watProbe(t, "in", "v2")
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		drop := filepath.Join(dir, "probes.d")
		if err := os.Mkdir(drop, 0o755); err != nil {
			t.Fatal(err)
		}
		put := func(path string, data []byte, mode os.FileMode, uid int) {
			t.Helper()
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, data, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, mode); err != nil { // past the umask
				t.Fatal(err)
			}
			if err := os.Chown(tmp, uid, uid); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}
		evilTOML := []byte("interval = \"200ms\"\ntimeout = \"100ms\"\n[allow]\nexec = [\"sh\"]\nread = [\"/\"]\n")
		put(filepath.Join(drop, "evil.wasm"), evilWASM, 0o666, nobody)
		put(filepath.Join(drop, "evil.toml"), evilTOML, 0o666, nobody)
		if err := os.Chmod(drop, 0o777); err != nil {
			t.Fatal(err)
		}

		logs := &logBuffer{}
		a := newBubbleAgentLogging(t, dir, "[agent]\ndata_dir = \"data\"\nprobes_dir = \"probes.d\"\n", logs)
		runUntilEnd(t, a.loop)
		// settled lets the watcher look twice: a change is acted on at the
		// second look that finds it the same.
		settled := func() {
			time.Sleep(2 * dropInPoll)
			synctest.Wait()
		}
		running := func(name string) bool {
			a.mu.RLock()
			defer a.mu.RUnlock()
			_, ok := a.probes[name]
			return ok
		}
		logged := func(parts ...string) {
			t.Helper()
			for _, p := range parts {
				if !strings.Contains(logs.String(), p) {
					t.Fatalf("the log does not say %q:\n%s", p, logs.String())
				}
			}
		}
		refused := func(file, reason string) {
			t.Helper()
			for _, r := range a.DropInProblems() {
				if r.File == file && strings.Contains(r.Error, reason) {
					return
				}
			}
			t.Fatalf("%s is not listed as refused for %q: %+v", file, reason, a.DropInProblems())
		}

		// A world-writable folder: nothing in it is loaded.
		settled()
		logged("probes folder refused", drop+": the probes folder is writable by others (drwxrwxrwx)")
		refused(drop, "writable by others")
		if running("evil") {
			t.Fatal("the agent loaded a drop-in from a world-writable folder")
		}

		// The folder fixed, the attacker's files are still theirs.
		os.Chmod(drop, 0o755)
		settled()
		logged("probes folder usable again",
			filepath.Join(drop, "evil.toml")+": the drop-in file is owned by uid 65534 (nobody), not by root or the agent's user (uid 0 (root)): refused")
		refused(filepath.Join(drop, "evil.toml"), "owned by uid 65534")
		if running("evil") {
			t.Fatal("the agent loaded nobody's drop-in")
		}

		// Root's files now, but the module writable by its group.
		os.Chown(filepath.Join(drop, "evil.toml"), 0, 0)
		os.Chmod(filepath.Join(drop, "evil.toml"), 0o644)
		os.Chown(filepath.Join(drop, "evil.wasm"), 0, 0)
		os.Chmod(filepath.Join(drop, "evil.wasm"), 0o664)
		settled()
		logged(filepath.Join(drop, "evil.wasm") + ": the drop-in file is writable by its group (-rw-rw-r--): refused")
		if running("evil") {
			t.Fatal("the agent loaded a group-writable module")
		}

		// Fixed: the same files load; the rules refused them, not their content.
		os.Chmod(filepath.Join(drop, "evil.wasm"), 0o644)
		settled()
		if !running("evil") {
			t.Fatalf("the trusted drop-in did not load:\n%s", logs.String())
		}
		if r := a.DropInProblems(); len(r) != 0 {
			t.Errorf("refused after everything was fixed: %+v", r)
		}

		// A symlink out of the folder.
		outside := filepath.Join(dir, "outside.wasm")
		put(outside, outWASM, 0o644, 0)
		put(filepath.Join(drop, "out.toml"), []byte("interval = \"200ms\"\ntimeout = \"100ms\"\n"), 0o644, 0)
		if err := os.Symlink(outside, filepath.Join(drop, "out.wasm")); err != nil {
			t.Fatal(err)
		}
		settled()
		logged(filepath.Join(drop, "out.wasm") + ": a symlink out of the probes folder (to " + outside + "): refused")
		refused(filepath.Join(drop, "out.wasm"), "symlink out of the probes folder")
		if running("out") {
			t.Fatal("the agent followed a symlink out of the folder")
		}

		// A symlink inside the folder, to a file the agent trusts, is followed.
		put(filepath.Join(drop, "in.wasm.2"), inWASM, 0o644, 0)
		put(filepath.Join(drop, "in.toml"), []byte("interval = \"200ms\"\ntimeout = \"100ms\"\n"), 0o644, 0)
		if err := os.Symlink("in.wasm.2", filepath.Join(drop, "in.wasm")); err != nil {
			t.Fatal(err)
		}
		settled()
		if !running("in") {
			t.Fatalf("the drop-in linked inside the folder did not load:\n%s", logs.String())
		}

		// A 200 MiB module is refused by its size, before it is read.
		huge := filepath.Join(drop, "huge.wasm")
		put(huge, nil, 0o644, 0)
		if err := os.Truncate(huge, 200<<20); err != nil {
			t.Fatal(err)
		}
		put(filepath.Join(drop, "huge.toml"), nil, 0o644, 0)
		settled()
		logged(huge + ": 209715200 bytes, over the limit of 16MiB ([agent] max_module_size): refused")
		refused(huge, "over the limit of 16MiB")
		if running("huge") {
			t.Fatal("the agent loaded a 200 MiB module")
		}

		// A running drop-in whose file turns writable by others: its new
		// state is refused and listed, the version loaded runs on (its
		// collector untouched); fixed, all clear.
		before := a.collectors["in"]
		os.Chmod(filepath.Join(drop, "in.toml"), 0o646)
		settled()
		refused(filepath.Join(drop, "in.toml"), "writable by others")
		if !running("in") || a.collectors["in"] != before {
			t.Fatal("the running drop-in was stopped or reloaded")
		}
		os.Chmod(filepath.Join(drop, "in.toml"), 0o644)
		settled()
		for _, r := range a.DropInProblems() {
			if strings.HasPrefix(r.File, filepath.Join(drop, "in.")) {
				t.Errorf("in.toml still refused once fixed: %+v", r)
			}
		}

		// Each refusal was logged once, not at every look.
		settled()
		for _, msg := range []string{"probes folder refused", "owned by uid 65534", "symlink out of the probes folder", "209715200 bytes"} {
			if n := strings.Count(logs.String(), msg); n != 1 {
				t.Errorf("%q logged %d times, want once", msg, n)
			}
		}
	})
}

// TestTrustFolder checks the folders above the probes folder: a root-owned
// sticky world-writable one (like /tmp) is fine, a plain world-writable or
// group-writable one, or one of another user, is not; both the path as
// written and the one its symlinks lead to are checked.
func TestTrustFolder(t *testing.T) {
	requireRoot(t)
	mk := func(path string, mode os.FileMode, uid int) {
		t.Helper()
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		os.Chown(path, uid, uid)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		setup func(root string) string // returns the probes folder
		want  string                   // "" when trusted
	}{
		{"plain", func(r string) string { mk(r+"/p", 0o755, 0); return r + "/p" }, ""},
		{"sticky tmp above", func(r string) string {
			mk(r+"/tmp", 0o777|os.ModeSticky, 0)
			mk(r+"/tmp/p", 0o755, 0)
			return r + "/tmp/p"
		}, ""},
		{"world-writable above", func(r string) string { mk(r+"/w", 0o777, 0); mk(r+"/w/p", 0o755, 0); return r + "/w/p" },
			"/w: a folder above the probes folder is writable by others"},
		{"group-writable above", func(r string) string { mk(r+"/g", 0o775, 0); mk(r+"/g/p", 0o755, 0); return r + "/g/p" },
			"/g: a folder above the probes folder is writable by its group"},
		{"sticky but not root's", func(r string) string {
			mk(r+"/s", 0o777|os.ModeSticky, nobody)
			mk(r+"/s/p", 0o755, 0)
			return r + "/s/p"
		},
			"/s: a folder above the probes folder is owned by uid 65534"},
		{"another user's folder", func(r string) string { mk(r+"/p", 0o755, nobody); return r + "/p" },
			"/p: the probes folder is owned by uid 65534"},
		{"sticky probes folder", func(r string) string { mk(r+"/p", 0o777|os.ModeSticky, 0); return r + "/p" },
			"/p: the probes folder is writable by others"},
		{"symlink to a folder under a writable one", func(r string) string {
			mk(r+"/w/real", 0o755, 0)
			os.Chmod(r+"/w", 0o777)
			os.Symlink(r+"/w/real", r+"/link")
			return r + "/link"
		}, "/w: a folder above the probes folder is writable by others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			mk(root, 0o755, 0)
			_, err := trustFolder(tc.setup(root))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), root+tc.want) {
				t.Fatalf("error %v, want %s%s", err, root, tc.want)
			}
		})
	}
}

// BenchmarkTrustFolder is what the agent spends on every look at the
// probes folder (every 2 s) before reading anything: the folder and the
// folders above it, stat'ed as written and as resolved.
func BenchmarkTrustFolder(b *testing.B) {
	drop := filepath.Join(b.TempDir(), "etc", "barbossa", "probes.d")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := trustFolder(drop); err != nil {
			b.Fatal(err)
		}
	}
}
