package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
	"github.com/barbossa-agent/barbossa/internal/testenv/heap"
	"github.com/barbossa-agent/barbossa/internal/testenv/proc"
	"github.com/barbossa-agent/barbossa/internal/testenv/testbus"
	"github.com/barbossa-agent/barbossa/sdk"
)

// The regression tests of issue #8's host-function findings, each as an
// attacker would: a hostile guest (the Go test guest, its raw call sending
// what the sdk never would) under the grants a user writes after reading
// the docs.

func needProgram(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		ci.Missing(t, name+" is not installed (sudo scripts/test-deps.sh)")
	}
}

// rawCall is a config call sending req as it is to host function fn.
func rawCall(fn string, req any) map[string]any {
	b, _ := json.Marshal(req)
	return map[string]any{"raw": map[string]any{"fn": fn, "req": json.RawMessage(b)}}
}

func batchOf[T any](n int, req T) abi.BatchRequest[T] {
	b := abi.BatchRequest[T]{Batch: make([]T, n)}
	for i := range b.Batch {
		b.Batch[i] = req
	}
	return b
}

// attackChildEnv names the guest module for the attack run in a child
// process by TestHostileBatchesCannotExhaustTheAgent.
const attackChildEnv = "WASMHOST_ATTACK_GUEST"

// attackCacheEnv names the compilation cache the child shares.
const attackCacheEnv = "WASMHOST_ATTACK_CACHE"

// maxChildRSS is where the watchdog kills the child: far above what the
// attack costs now (tens of MiB), far below what it cost before (~25 GB
// for the reads alone: the agent died of "fatal error: out of memory").
const maxChildRSS = 1536 << 20

// TestHostileBatchesCannotExhaustTheAgent is finding 1 of issue #8: a
// guest with max_memory = "16MiB" and a read grant on a folder holding a
// large file of NULs (like /var/log/lastlog) batched 256 reads of 16 MiB;
// each answer was built on the host's heap (~96 MiB escaped) before any cap
// applied, and the agent died. Here the same attack, and the same through
// exec output, http bodies and directory listings, runs in a child process
// (the agent) watched from outside: it must survive, its heap bounded by
// the guest's budget.
func TestHostileBatchesCannotExhaustTheAgent(t *testing.T) {
	// Compiled once here into the cache the child shares.
	h, _ := newHost(t)
	load(t, h, "goguest")
	wasm := filepath.Join(guestDir, "goguest.wasm")
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileBatchesChild$", "-test.v", "-test.count=1")
	// GOGC=50: as the agent runs (cmd/barbossa), so garbage not yet
	// collected is held to half the live heap.
	cmd.Env = append(os.Environ(), attackChildEnv+"="+wasm, attackCacheEnv+"="+filepath.Join(guestDir, "cache"), "GOGC=50")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	peakRSS := uint64(0)
	for {
		select {
		case err := <-exited:
			t.Logf("child's peak resident memory seen: %d MiB\n%s", peakRSS>>20, out.String())
			if err != nil {
				t.Fatalf("the agent's child did not survive the attack: %v", err)
			}
			if !strings.Contains(out.String(), "--- PASS: TestHostileBatchesChild") {
				t.Fatal("the child did not run the attack")
			}
			return
		case <-time.After(20 * time.Millisecond): // watching another process: the real clock
		}
		if rss := residentBytes(cmd.Process.Pid); rss > peakRSS {
			peakRSS = rss
			if rss > maxChildRSS {
				cmd.Process.Kill()
				<-exited
				t.Fatalf("the agent's child grew to %d MiB under the attack: it would have died\n%s", rss>>20, out.String())
			}
		}
	}
}

// residentBytes is VmRSS of process pid, 0 when unknown.
func residentBytes(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestHostileBatchesChild is the attack, run in a child process by
// TestHostileBatchesCannotExhaustTheAgent.
func TestHostileBatchesChild(t *testing.T) {
	wasm := os.Getenv(attackChildEnv)
	if wasm == "" {
		t.Skip("run in a child process by TestHostileBatchesCannotExhaustTheAgent")
	}
	dir := t.TempDir()
	lastlog := filepath.Join(dir, "lastlog")
	os.WriteFile(lastlog, nil, 0o644)
	if err := os.Truncate(lastlog, 64<<20); err != nil { // sparse: all NULs
		t.Fatal(err)
	}
	listed := filepath.Join(dir, "many")
	os.Mkdir(listed, 0o755)
	for i := range 2000 { // names of control characters: six bytes each escaped
		os.WriteFile(filepath.Join(listed, fmt.Sprintf("%s%04d", strings.Repeat("\x01", 200), i)), nil, 0o644)
	}
	nuls := make([]byte, 8<<20) // one buffer for every answer: the server is in this process too
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(nuls)
	}))
	defer srv.Close()

	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{CacheDir: os.Getenv(attackCacheEnv), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	m, err := h.Load(context.Background(), "goguest", b)
	if err != nil {
		t.Fatal(err)
	}
	grants := hostfuncs.Grants{
		Read: []string{dir},
		Exec: []string{"head -c 1048576 /dev/zero"},
		HTTP: []string{srv.URL + "/"},
	}
	attacks := map[string]map[string]any{
		"reads of 16 MiB": rawCall("read_file", batchOf(256, abi.ReadFileRequest{Path: lastlog, MaxBytes: 16 << 20})),
		"reads of 2 MiB":  rawCall("read_file", batchOf(256, abi.ReadFileRequest{Path: lastlog, MaxBytes: 2 << 20})),
		"exec output":     rawCall("exec", batchOf(64, sdk.ExecRequest{Argv: []string{"head", "-c", "1048576", "/dev/zero"}})),
		"http bodies":     rawCall("http", batchOf(64, sdk.HTTPRequest{URL: srv.URL + "/nuls"})),
		"listings":        rawCall("read_file", batchOf(64, abi.ReadFileRequest{Path: listed})),
	}
	for name, call := range attacks {
		p := newProbe(t, h, m, ProbeOptions{Name: "bomb", MaxMemory: 16 << 20, Grants: grants, Config: map[string]any{"calls": []any{call}}})
		var (
			r   sdk.Report
			err error
		)
		start := time.Now()
		grew := heap.Peak(func() { r, err = collect(t, p, 2*time.Minute) })
		t.Logf("%s: the agent's heap grew by %d MiB at most (%s)", name, grew>>20, time.Since(start).Round(time.Millisecond))
		// Answers, the data they are made from and a batch's envelope each
		// stay within the guest's room (under 16 MiB); the rest is garbage
		// not yet collected.
		if grew > 128<<20 {
			t.Errorf("%s: the agent's heap grew by %d MiB for a 16 MiB guest", name, grew>>20)
		}
		if err != nil {
			// An answer that fits its room may still be more than a Go
			// guest's allocator can find in it: the guest fails itself.
			if !strings.Contains(err.Error(), "guest failed") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		e := entity(t, r, 0)
		if n, _ := e.Attrs["too_large"].(float64); n == 0 {
			t.Errorf("%s: nothing refused: %v", name, e.Attrs)
		}
		if n, _ := e.Attrs["bytes"].(float64); n > 16<<20 {
			t.Errorf("%s: a %.0f-byte answer for a 16 MiB guest", name, n)
		}
	}
}

// TestHostileExecNarrowGrant is finding 2 of issue #8 through a guest:
// under the default config's kind of grant (the command pinned, the
// socket free) a guest cannot turn tmux or git into a shell.
func TestHostileExecNarrowGrant(t *testing.T) {
	needProgram(t, "tmux")
	needProgram(t, "git")
	dir := shortTempDir(t)
	pwned := filepath.Join(dir, "pwned")
	sock := filepath.Join(dir, "s")
	h, _ := newHost(t)
	calls := []any{}
	for _, argv := range [][]string{
		{"tmux", "-S", sock, "new-session", "-d", "touch " + pwned},
		{"tmux", "-S", sock, "list-sessions", "-F", "#(touch " + pwned + ")"},
		{"tmux", "-S", sock, "list-sessions", "-F", "#{session_name}", ";", "run-shell", "touch " + pwned},
		{"git", "-c", "alias.x=!touch " + pwned, "x"},
		{"tmux", "-S", sock, "list-sessions", "-F", "#{session_name}"}, // the granted command
	} {
		calls = append(calls, map[string]any{"exec": argv})
	}
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{
		Name:   "tmuxish",
		Grants: hostfuncs.Grants{Exec: []string{"tmux -S * list-sessions -F #{session_name}", "git status **"}},
		Config: map[string]any{"calls": calls},
	})
	r := mustCollect(t, p)
	for i := range 4 {
		if e := entity(t, r, i); e.Attrs["denied"] != true {
			t.Errorf("call %d ran: %v", i, e.Attrs)
		}
	}
	if e := entity(t, r, 4); e.Attrs["denied"] == true || e.Attrs["error"] != nil {
		t.Errorf("the granted command: %v", e.Attrs)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a shell command ran")
	}
}

// TestHostileExecDaemonDies is the rest of finding 2: under a bare grant
// (exec = ["tmux"], any argv, as the docs warn) a guest starts a tmux server
// running its command; the server, which left the run's process group and
// session, outlived the run's timeout kill. Now nothing the exec started
// outlives it.
func TestHostileExecDaemonDies(t *testing.T) {
	needProgram(t, "tmux")
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "s")
	pidFile := filepath.Join(dir, "pid")
	h, _ := newHost(t)
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{
		Name:   "daemon",
		Grants: hostfuncs.Grants{Exec: []string{"tmux"}},
		Config: map[string]any{"calls": []any{
			map[string]any{"exec": []string{"tmux", "-S", sock, "-f", "/dev/null", "new-session", "-d", "echo $$ > " + pidFile + "; exec sleep 300"}},
		}},
	})
	mustCollect(t, p)
	defer exec.Command("tmux", "-S", sock, "kill-server").Run()
	if err := exec.Command("tmux", "-S", sock, "has-session").Run(); err == nil {
		t.Error("the tmux server outlived the exec")
	}
	// Its command may have been killed before it wrote its PID.
	if b, _ := waitForFile(pidFile); len(b) > 0 {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); proc.Running(pid) {
			t.Errorf("the tmux server's command (%d) outlived the exec", pid)
		}
	}
}

// waitForFile returns the file's content once it has some, or what it has
// after a second.
func waitForFile(name string) ([]byte, error) {
	deadline := time.Now().Add(time.Second)
	for {
		b, err := os.ReadFile(name)
		if len(bytes.TrimSpace(b)) > 0 || time.Now().After(deadline) {
			return b, err
		}
		time.Sleep(20 * time.Millisecond) // written by another process: polled on the real clock
	}
}

// shortTempDir is a temporary folder with a short path: a unix socket's
// path is limited to 107 bytes.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "wh-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestHostileExecPlantedProgram is finding 12 of issue #8: with an empty or
// "." element in PATH, a program of the granted name planted in the
// agent's working folder ran under a grant by name.
func TestHostileExecPlantedProgram(t *testing.T) {
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "planted-ran")
	os.WriteFile(filepath.Join(dir, "echo"), []byte("#!/bin/sh\ntouch "+marker+"\necho planted\n"), 0o755)
	t.Chdir(dir)
	t.Setenv("PATH", "::.:"+filepath.Dir(echo))
	h, _ := newHost(t)
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{
		Name:   "planted",
		Grants: hostfuncs.Grants{Exec: []string{"echo"}},
		Config: map[string]any{"calls": []any{map[string]any{"exec": []string{"echo", "real"}}}},
	})
	r := mustCollect(t, p)
	if e := entity(t, r, 0); e.Attrs["stdout"] != "real\n" {
		t.Errorf("exec of echo: %v", e.Attrs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the program planted in the working folder ran")
	}
}

// TestHostileReadOfProcSecrets is finding 8 of issue #8: read = ["/proc"],
// the docs' own example, returned /proc/self/environ, the agent's
// environment (and a root agent's every process's).
func TestHostileReadOfProcSecrets(t *testing.T) {
	t.Setenv("BARBOSSA_TEST_TOKEN", "hunter2")
	h, _ := newHost(t)
	m := load(t, h, "goguest")
	secrets := []string{"/proc/self/environ", "/proc/thread-self/environ", fmt.Sprintf("/proc/%d/environ", os.Getpid()),
		"/proc/self/root/proc/self/environ", "/proc/self/mem", "/proc/self/maps"}
	for _, prefix := range []string{"/proc", "/"} {
		var calls []any
		for _, s := range secrets {
			calls = append(calls, map[string]any{"read": s})
		}
		calls = append(calls, map[string]any{"read": "/proc/loadavg"})
		p := newProbe(t, h, m, ProbeOptions{Name: "nosy", Grants: hostfuncs.Grants{Read: []string{prefix}}, Config: map[string]any{"calls": calls}})
		r := mustCollect(t, p)
		for i, s := range secrets {
			e := entity(t, r, i)
			if data, _ := e.Attrs["data"].(string); data != "" || e.Attrs["denied"] != true {
				t.Errorf("read = [%q]: %s: %.100v", prefix, s, e.Attrs)
			}
		}
		if e := entity(t, r, len(secrets)); e.Attrs["data"] == "" || e.Attrs["error"] != nil {
			t.Errorf("read = [%q]: /proc/loadavg: %v", prefix, e.Attrs)
		}
	}
}

// TestHostileDBus is finding 7 of issue #8: under a grant like
// org.freedesktop.DBus.*, a member with dots reached other interfaces, and
// BecomeMonitor broke the D-Bus connection every probe shared.
func TestHostileDBus(t *testing.T) {
	addr := testbus.Start(t)
	h, _ := newHost(t)
	m := load(t, h, "goguest")
	driver := func(iface, member, sig string, args ...any) map[string]any {
		return map[string]any{"dbus": sdk.DBusRequest{Bus: addr, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
			Interface: iface, Member: member, Signature: sig, Args: args}}
	}
	listNames := driver("org.freedesktop.DBus", "ListNames", "")
	hostile := newProbe(t, h, m, ProbeOptions{
		Name:   "hostile",
		Grants: hostfuncs.Grants{DBus: []string{addr + " org.freedesktop.DBus org.freedesktop.DBus.*"}},
		Config: map[string]any{"calls": []any{
			driver("org.freedesktop.DBus", "Monitoring.BecomeMonitor", "asu", []any{}, 0),
			driver("org.freedesktop.DBus", "Properties.Get", "ss", "org.freedesktop.DBus", "Features"),
			driver("org.freedesktop.DBus", "AddMatch", "s", "eavesdrop=true"),
			driver("org.freedesktop.DBus", "Hello", ""),
			listNames,
		}},
	})
	other := newProbe(t, h, m, ProbeOptions{
		Name:   "other",
		Grants: hostfuncs.Grants{DBus: []string{addr + " org.freedesktop.DBus org.freedesktop.DBus.ListNames"}},
		Config: map[string]any{"calls": []any{listNames}},
	})
	mustCollect(t, other)
	r := mustCollect(t, hostile)
	for i := range 4 {
		if e := entity(t, r, i); e.Attrs["error"] == nil {
			t.Errorf("call %d went out: %v", i, e.Attrs)
		}
	}
	if e := entity(t, r, 4); e.Attrs["error"] != nil {
		t.Errorf("ListNames, a read the grant allows: %v", e.Attrs)
	}
	if e := entity(t, mustCollect(t, other), 0); e.Attrs["error"] != nil {
		t.Errorf("the other probe after the hostile one: %v", e.Attrs)
	}
}

// TestHostileHTTPBackslash is the Low finding of issue #8: a backslash in
// a path was not normalised, so a guest granted "/metrics" reached
// "/admin" on a server that reads "\" as "/".
func TestHostileHTTPBackslash(t *testing.T) {
	var admin atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Clean(strings.ReplaceAll(r.URL.Path, `\`, "/")) == "/admin" {
			admin.Add(1)
		}
	}))
	defer srv.Close()
	h, _ := newHost(t)
	var calls []any
	for _, u := range []string{`/metrics/..\admin`, `/metrics/..%5cadmin`, `/metrics/..%5C..%5Cadmin`} {
		calls = append(calls, map[string]any{"http": sdk.HTTPRequest{URL: srv.URL + u}})
	}
	p := newProbe(t, h, load(t, h, "goguest"), ProbeOptions{
		Name:   "slash",
		Grants: hostfuncs.Grants{HTTP: []string{"GET " + srv.URL + "/metrics"}},
		Config: map[string]any{"calls": calls},
	})
	r := mustCollect(t, p)
	for i := range calls {
		if e := entity(t, r, i); !strings.Contains(fmt.Sprint(e.Attrs["error"]), "servers read differently") {
			t.Errorf("call %d: %v", i, e.Attrs)
		}
	}
	if admin.Load() != 0 {
		t.Errorf("/admin reached %d times", admin.Load())
	}
}
