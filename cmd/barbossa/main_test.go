package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[[probe]]\nname = \"system\"\n"), 0o600)
	os.WriteFile(bad, []byte("[agent]\nworkers = 2\n\n[[probe]]\nname = \"system\"\ninterval = \"10s\"\ntimeout = \"20s\"\n[probe.limits]\nmax_depth = 300\n"), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", good}, &out, &errOut); code != 0 {
		t.Fatalf("check good: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("check bad: exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":7: probe.timeout", bad + ":9: probe.limits.max_depth: probe \"system\": 300 is outside 4..256"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check bad said %q, want it to name %q", errOut.String(), want)
		}
	}
}

// TestCheckWarnsOfBareProgramGrants: a program granted alone passes check
// (configs written before argument patterns keep working) but is named, at
// its file, line and key, in the main file and in a drop-in alike.
func TestCheckWarnsOfBareProgramGrants(t *testing.T) {
	dir := t.TempDir()
	mod, _ := os.ReadFile(uptimeWASM(t, dir))
	drop := filepath.Join(dir, "probes.d")
	os.Mkdir(drop, 0o755)
	os.WriteFile(filepath.Join(drop, "repos.wasm"), mod, 0o644)
	os.WriteFile(filepath.Join(drop, "repos.toml"), []byte("interval = \"1m\"\n[allow]\nexec = [\"git status --porcelain\", \"git\"]\n"), 0o644)
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte("[agent]\nprobes_dir = \"probes.d\"\n[[probe]]\nname = \"tmux\"\nruntime = \"wasm\"\nsource = \"builtin:tmux\"\n[probe.allow]\nexec = [\"tmux\"]\n"+
		"[[probe]]\nname = \"narrow\"\nruntime = \"wasm\"\nsource = \"builtin:tmux\"\n[probe.allow]\nexec = [\"tmux -S * list-panes -a -F *\"]\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("check: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		cfg + `:8: probe.allow.exec: probe "tmux": "tmux" lets the probe run tmux with any arguments`,
		filepath.Join(drop, "repos.toml") + `:3: allow.exec: probe "repos": "git" lets the probe run git with any arguments`,
	} {
		if !strings.Contains(errOut.String(), "barbossa: warning: "+want) {
			t.Errorf("check does not warn\n  %s\nit said:\n%s", want, errOut.String())
		}
	}
	if n := strings.Count(errOut.String(), "warning:"); n != 2 {
		t.Errorf("%d warnings, want 2 (narrow grants are not warned of):\n%s", n, errOut.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "barbossa ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestEmbeddedConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir) // no barbossa.toml here: the embedded one is used
	var out, errOut bytes.Buffer
	if code := run([]string{"check"}, &out, &errOut); code != 0 {
		t.Fatalf("embedded config: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "embedded") {
		t.Errorf("check did not say it used the embedded config: %q", out.String())
	}
}

// TestBinaryRunsAndStopsCleanly builds the real binary, runs it, reads the
// API, reloads it (SIGHUP, `barbossa reload`), and sends SIGTERM: it must
// drain and exit 0.
func TestBinaryRunsAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t)
	addr := freeLoopbackAddr(t)
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte("[portal]\nlisten = \""+addr+"\"\n[[probe]]\nname = \"system\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n"), 0o600)

	var logs testenv.LogBuffer
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/api/v1/probes/system")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent never answered: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond) // the agent is another process: polled on the real clock
	}
	// SIGHUP reloads: a probe added to the file starts. A bad file is
	// refused by `barbossa reload` before any signal, and by the agent
	// itself on a bare SIGHUP; it runs on with the config it has.
	answers := func(path string) bool {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, logs.String())
			}
			time.Sleep(100 * time.Millisecond) // another process: polled on the real clock
		}
	}
	os.WriteFile(cfg, []byte("[portal]\nlisten = \""+addr+"\"\n[[probe]]\nname = \"system\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n"+
		"[[probe]]\nname = \"system2\"\nsource = \"builtin:system\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"reload", "--config", cfg, "--pid", strconv.Itoa(cmd.Process.Pid)}, &out, &errOut); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, errOut.String())
	}
	until("the probe added by the reload", func() bool { return answers("/api/v1/probes/system2") })

	os.WriteFile(cfg, []byte("[portal]\nlisten = \""+addr+"\"\n[[probe]]\nname = \"system\"\ninterval = 1\n"), 0o600)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"reload", "--config", cfg, "--pid", strconv.Itoa(cmd.Process.Pid)}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), cfg+":5: probe.interval") {
		t.Errorf("reload of a bad config: exit %d: %s", code, errOut.String())
	}
	cmd.Process.Signal(syscall.SIGHUP)
	until("the refusal in the log", func() bool { return strings.Contains(logs.String(), "reload refused") })
	if !strings.Contains(logs.String(), cfg+":5: probe.interval") || !answers("/api/v1/probes/system2") {
		t.Errorf("the bad config was not refused whole, with its problem:\n%s", logs.String())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("agent did not stop within 15s of SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "barbossa stopped") {
		t.Errorf("no clean-stop log line:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "store")); err != nil {
		t.Errorf("no store under the config's data_dir: %v", err)
	}
}

// TestCheckReportsAllRunRefuses: check says at once, each with file, line
// and key, everything run would refuse or skip: a config error, bad grants,
// a missing source, a NUL in a source, a token_file that is a folder, a
// sha256 that does not match, a drop-in whose file is writable by others
// and one whose grant the host refuses.
func TestCheckReportsAllRunRefuses(t *testing.T) {
	dir := t.TempDir()
	wasm := uptimeWASM(t, dir)
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	drop := filepath.Join(dir, "probes.d")
	os.Mkdir(drop, 0o755)
	mod, _ := os.ReadFile(wasm)
	os.WriteFile(filepath.Join(drop, "loose.wasm"), mod, 0o666)
	os.Chmod(filepath.Join(drop, "loose.wasm"), 0o666)
	os.WriteFile(filepath.Join(drop, "loose.toml"), nil, 0o644)
	os.WriteFile(filepath.Join(drop, "grant.wasm"), mod, 0o644)
	os.WriteFile(filepath.Join(drop, "grant.toml"), []byte("interval = \"1m\"\n\n[allow]\nhttp = [\"ftp://x/\"]\n"), 0o644)
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte(`[agent]
wrokers = 2

[portal]
token_file = "tokens"

[[probe]]
name = "grants"
runtime = "wasm"
source = "uptime.wasm"
[probe.allow]
read = ["proc"]
exec = ["", "bin/sh"]

[[probe]]
name = "missing"
runtime = "wasm"
source = "nope.wasm"

[[probe]]
name = "nul"
runtime = "wasm"
source = "uptime.wasm\u0000.txt"

[[probe]]
name = "pinned"
runtime = "wasm"
source = "uptime.wasm"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

[[probe]]
name = "noplugin"
runtime = "plugin"
source = "nope-plugin"

[[probe]]
name = "nobuiltin"
source = "builtin:nope"
`), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		cfg + ":2: agent.wrokers: unknown key",
		cfg + ":5: portal.token_file: " + filepath.Join(dir, "tokens") + " is a folder",
		cfg + ":12: probe.allow.read: probe \"grants\": read: \"proc\": a path prefix must be absolute",
		cfg + ":13: probe.allow.exec: probe \"grants\": exec: \"\": empty program name",
		cfg + ":13: probe.allow.exec: probe \"grants\": exec: \"bin/sh\": a path must be absolute",
		cfg + ":18: probe.source: probe \"missing\": open " + filepath.Join(dir, "nope.wasm") + ": no such file or directory",
		cfg + ":23: probe.source: probe \"nul\": \"uptime.wasm\\x00.txt\" holds a NUL byte",
		cfg + ":29: probe.sha256: probe \"pinned\": uptime.wasm has SHA-256 ",
		cfg + ":34: probe.source: plugin probe \"noplugin\": stat " + filepath.Join(dir, "nope-plugin") + ": no such file or directory",
		cfg + ":38: probe.source: probe \"nobuiltin\": no builtin probe \"nope\"",
		filepath.Join(drop, "loose.wasm") + ": the drop-in file is writable by others (-rw-rw-rw-): refused",
		filepath.Join(drop, "grant.toml") + ":4: allow.http: probe \"grant\": http: \"ftp://x/\"",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check does not say\n  %s\nit said:\n%s", want, errOut.String())
		}
	}
	// The NUL is said once, quoted, by the config's check: never raw.
	if strings.Contains(errOut.String(), "\x00") || strings.Count(errOut.String(), `probe "nul"`) != 1 {
		t.Errorf("the NUL in a source is reported raw or more than once:\n%q", errOut.String())
	}

	// And run refuses what check reported, saying the same.
	os.WriteFile(cfg, []byte("[[probe]]\nname = \"grants\"\nruntime = \"wasm\"\nsource = \"uptime.wasm\"\n[probe.allow]\nexec = [\"bin/sh\"]\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"run", "--config", cfg}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), cfg+`:6: probe.allow.exec: probe \"grants\": exec: \"bin/sh\": a path must be absolute`) {
		t.Errorf("run: exit %d: %s", code, errOut.String())
	}
}

// TestCheckReadsTheTLSPair: a certificate and key that do not load are
// check's problem, at the key, not a surprise at run.
func TestCheckReadsTheTLSPair(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key\n"), 0o600)
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte("[portal]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n[[probe]]\nname = \"system\"\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), cfg+":2: portal.tls_cert: tls: failed to find any PEM data in certificate input") {
		t.Errorf("check: exit %d: %s", code, errOut.String())
	}
}
