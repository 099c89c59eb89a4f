package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
)

// uptimeWASM assembles the WAT example into dir.
func uptimeWASM(t *testing.T, dir string) string {
	t.Helper()
	wat2wasm := testenv.Program(t, "wat2wasm", "wabt")
	out := filepath.Join(dir, "uptime.wasm")
	if b, err := exec.Command(wat2wasm, "../../examples/wat/uptime.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	return out
}

func TestProbeTest(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	wasm := uptimeWASM(t, dir)
	cfg := filepath.Join(dir, "uptime.toml")
	os.WriteFile(cfg, []byte("interval = \"30s\"\n[allow]\nread = [\"/proc/uptime\"]\n"), 0o600)

	var out, errOut bytes.Buffer
	// The flag after the file, as the usage line writes it.
	if code := run([]string{"probe", "test", wasm, "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r sdk.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out.String())
	}
	if r.Status != sdk.StatusOK || len(r.Metrics) != 1 || r.Metrics[0].Name != "uptime.seconds" || r.Metrics[0].Value <= 0 {
		t.Errorf("report = %+v", r)
	}
	if !strings.Contains(errOut.String(), `probe "uptime" (uptime 1.0.0): ok in`) || !strings.Contains(errOut.String(), "0 denied calls") ||
		!strings.Contains(errOut.String(), `msg="reading /proc/uptime" probe=uptime source=guest`) {
		t.Errorf("stderr = %s", errOut.String())
	}

	// Without the grant: exit 1, the reason on stderr, nothing on stdout.
	out.Reset()
	errOut.Reset()
	if code := run([]string{"probe", "test", wasm}, &out, &errOut); code != 1 {
		t.Fatalf("without a grant: exit %d", code)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), `barbossa: probe "uptime": collect failed: denied: read of "/proc/uptime" is not granted to probe "uptime"`) {
		t.Errorf("without a grant: stdout %q, stderr %s", out.String(), errOut.String())
	}

	// A bad probe config names file, line and key.
	os.WriteFile(cfg, []byte("interval = \"30s\"\ntimeout = \"1m\"\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"probe", "test", "--config", cfg, wasm}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), cfg+":2: timeout:") {
		t.Errorf("bad config: exit %d: %s", code, errOut.String())
	}
	for _, args := range [][]string{{"probe"}, {"probe", "test"}, {"probe", "run", wasm}, {"probe", "test", wasm, wasm}} {
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestProbesListsDropIns checks that `probes` lists drop-ins with their
// grants and where they come from, and that `probes` and `check` fail on a
// bad one, naming file, line and key.
func TestProbesListsDropIns(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "probes.d")
	os.MkdirAll(drop, 0o755)
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte("[[probe]]\nname = \"system\"\n\n[[probe]]\nname = \"tmux\"\nruntime = \"wasm\"\nsource = \"builtin:tmux\"\n[probe.allow]\nexec = [\"tmux\"]\n"), 0o600)
	uptimeWASM(t, drop)
	os.WriteFile(filepath.Join(drop, "uptime.toml"), []byte("interval = \"1m\"\n[allow]\nread = [\"/proc/uptime\"]\n"), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"probes", "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("probes:\n%s", out.String())
	}
	for i, want := range [][]string{
		{"NAME", "RUNTIME", "SOURCE", "FROM", "GRANTS"},
		{"system", "builtin", "builtin:system", cfg + ":1"},
		{"tmux", "wasm", "builtin:tmux", `exec=["tmux"]`, cfg + ":4"},
		{"uptime", "wasm", filepath.Join(drop, "uptime.wasm"), "1m", `read=["/proc/uptime"]`, filepath.Join(drop, "uptime.toml")},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	out.Reset()
	if code := run([]string{"check", "--config", cfg}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ok (2 probes, 1 drop-ins)") {
		t.Errorf("check: exit %d: %s%s", code, out.String(), errOut.String())
	}

	os.WriteFile(filepath.Join(drop, "bad.wasm"), []byte("\x00asm"), 0o600)
	os.WriteFile(filepath.Join(drop, "bad.toml"), []byte("\ninterval = \"forever\"\n"), 0o600)
	for _, cmd := range []string{"probes", "check"} {
		errOut.Reset()
		if code := run([]string{cmd, "--config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), filepath.Join(drop, "bad.toml")+":2: interval:") {
			t.Errorf("%s with a bad drop-in: exit %d: %s", cmd, code, errOut.String())
		}
	}
}

// TestProbeTestPlugin runs a native plugin binary (the procs example) the
// same way: the file's first bytes say it is not WASM.
func TestProbeTestPlugin(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "procs")
	if b, err := exec.Command("go", "build", "-o", bin, "../../examples/procs/cmd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cfg := filepath.Join(dir, "procs.toml")
	os.WriteFile(cfg, []byte("[config]\ntop = 2\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"probe", "test", bin, "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r sdk.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, out.String())
	}
	if len(r.Entities) != 2 || r.Entities[0].Kind != "process" {
		t.Errorf("report entities = %+v", r.Entities)
	}
	if !strings.Contains(errOut.String(), `probe "procs" (procs `) {
		t.Errorf("stderr = %s", errOut.String())
	}
	// A pinned checksum that does not match is refused.
	os.WriteFile(cfg, []byte("sha256 = \""+strings.Repeat("0", 64)+"\"\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"probe", "test", bin, "--config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "sha256") {
		t.Errorf("wrong checksum: exit %d: %s", code, errOut.String())
	}
}
