package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/hashicorp/go-plugin"
)

// testBin is testdata/testplugin, built once for the package's tests.
var testBin string

func TestMain(m *testing.M) {
	if report, ok := os.LookupEnv(answerEnv); ok { // TestBadReportsRefused
		serveAnswer(report)
		return
	}
	if bin := os.Getenv("PLUGINHOST_HELPER_BIN"); bin != "" { // TestHelperAgent
		testBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pluginhost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBin = filepath.Join(dir, "testplugin")
	build := exec.Command("go", "build", "-o", testBin, "./testdata/testplugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build testdata/testplugin:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	KillAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuf collects log records as text, for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits for a log line containing every one of parts.
func (l *logBuf) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, l.String())
		}
		time.Sleep(10 * time.Millisecond) // the plugin is another process: polled on the real clock
	}
}

func newProbe(t testing.TB, o Options) (*Probe, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if o.Name == "" {
		o.Name = "tp"
	}
	if o.Path == "" {
		o.Path = testBin
	}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pr, logs
}

func collect(t testing.TB, pr *Probe, timeout time.Duration, cfg map[string]any) (sdk.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return pr.Collect(ctx, sdk.Request{Config: cfg})
}

func gauge(r sdk.Report, name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return -1
}

func assertNoChildren(t *testing.T) {
	t.Helper()
	if c := testenv.Children(t, os.Getpid()); len(c) > 0 {
		t.Errorf("processes left behind (pid (comm) state): %q", c)
	}
}

func TestCollect(t *testing.T) {
	pr, _ := newProbe(t, Options{})
	if pr.PID() != 0 {
		t.Fatal("a process runs before the first collect")
	}
	r, err := collect(t, pr, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := pr.PID()
	if int(gauge(r, "test.pid")) != pid || pid == 0 {
		t.Errorf("report from pid %v, process is %d", gauge(r, "test.pid"), pid)
	}
	if gauge(r, "test.deadline") != 1 {
		t.Error("the run's deadline did not reach the probe's context")
	}
	if info := pr.Info(); info.Name != "testplugin" || info.Version != "1.0.0" {
		t.Errorf("Info = %+v", info)
	}
	// The process is kept: state survives between runs.
	r, err = collect(t, pr, 10*time.Second, nil)
	if err != nil || gauge(r, "test.calls") != 2 || pr.PID() != pid {
		t.Errorf("second run: calls %v, pid %d (was %d), %v", gauge(r, "test.calls"), pr.PID(), pid, err)
	}
	// A probe's own error fails the run but keeps the process.
	_, err = collect(t, pr, 10*time.Second, map[string]any{"fail": "target went away"})
	if err == nil || err.Error() != "target went away" || pr.PID() != pid {
		t.Errorf("probe error: %v, pid %d (was %d)", err, pr.PID(), pid)
	}
	// So does a panic in Collect, which sdk recovers.
	_, err = collect(t, pr, 10*time.Second, map[string]any{"panic": true})
	if err == nil || !strings.HasPrefix(err.Error(), `probe "testplugin" panicked: probe bug`) || pr.PID() != pid {
		t.Errorf("probe panic: %.60v, pid %d (was %d)", err, pr.PID(), pid)
	}
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, pr, time.Second, nil); !errors.Is(err, errClosed) {
		t.Errorf("run after Close: %v", err)
	}
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("plugin pid %d still there after Close, state %s", pid, st)
	}
	assertNoChildren(t)
}

func TestCrashRestarted(t *testing.T) {
	pr, logs := newProbe(t, Options{})
	marker := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(marker, nil, 0o600)
	cfg := map[string]any{"crash_once": marker}

	_, err := collect(t, pr, 10*time.Second, cfg)
	for _, want := range []string{`plugin probe "tp"`, "exited during the run", "exit status 2", "panic: assignment to entry in nil map", "the next run restarts it"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("crash error %q lacks %q", err, want)
		}
	}
	logs.waitLog(t, "level=ERROR", "panic: assignment to entry in nil map", "probe=tp", "stream=stderr")

	r, err := collect(t, pr, 10*time.Second, cfg)
	if err != nil {
		t.Fatalf("run after the crash: %v", err)
	}
	if gauge(r, "test.calls") != 1 {
		t.Errorf("calls = %v: not a fresh process", gauge(r, "test.calls"))
	}
	if pr.failures != 0 {
		t.Errorf("failures = %d after a good run", pr.failures)
	}
}

func TestCrashLoopBacksOff(t *testing.T) {
	pr, _ := newProbe(t, Options{})
	cfg := map[string]any{"exit": 3}
	for i := 1; i <= 2; i++ {
		_, err := collect(t, pr, 10*time.Second, cfg)
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	// Two failures in a row: the next restart waits 1s (to the nanosecond
	// in TestRestartBackoffTiming).
	_, err := collect(t, pr, 10*time.Second, cfg)
	if err == nil || !strings.Contains(err.Error(), "failed 2 times in a row; next restart in") {
		t.Fatalf("third run: %v", err)
	}
	if pr.PID() != 0 {
		t.Error("a process runs during backoff")
	}
	// Age the last failure instead of sleeping out the backoff.
	pr.lastFailure = pr.lastFailure.Add(-restartDelay(2))
	if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
		t.Errorf("after the backoff: %v", err)
	}
	for n, want := range map[int]time.Duration{1: 0, 2: time.Second, 3: 2 * time.Second, 5: 8 * time.Second, 9: time.Minute, 100: time.Minute} {
		if got := restartDelay(n); got != want {
			t.Errorf("restartDelay(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestRestartBackoffTiming follows the restart backoff on a fake clock,
// with the failures counted directly (TestCrashLoopBacksOff has real
// crashes count them): a run before the restart is due fails at once,
// saying when it is; at that instant the restart is allowed.
func TestRestartBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, _ := newProbe(t, Options{})
		pr.failed1()
		if w := pr.restartWait(); w > 0 {
			t.Fatalf("after one failure the restart waits %s; want none", w)
		}
		for n, delay := range []time.Duration{2: time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
			16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
			if n < 2 {
				continue
			}
			pr.failed1()
			began := time.Now()
			_, err := collect(t, pr, time.Hour, nil)
			want := fmt.Sprintf("failed %d times in a row; next restart in %s", n, delay)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("run after %d failures: %v; want %q", n, err, want)
			}
			if d := time.Since(began); d != 0 {
				t.Errorf("a run in backoff took %s; want it refused at once", d)
			}
			time.Sleep(delay - time.Millisecond)
			if _, err := collect(t, pr, time.Hour, nil); err == nil || !strings.Contains(err.Error(), "next restart in 1ms") {
				t.Errorf("1 ms before the restart after %d failures: %v", n, err)
			}
			time.Sleep(time.Millisecond)
			if w := pr.restartWait(); w > 0 {
				t.Errorf("restart after %d failures still %s away at its time", n, w)
			}
		}
		if pr.PID() != 0 {
			t.Error("a process was started")
		}
	})
}

func TestHangKilledAtTimeout(t *testing.T) {
	pr, _ := newProbe(t, Options{})
	if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	pid := pr.PID()
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := pr.Collect(ctx, sdk.Request{Config: map[string]any{"hang": true}})
	overshoot := time.Since(deadline)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed the plugin") {
		t.Fatalf("hung run: %v", err)
	}
	// Collect returns once the process is killed and reaped.
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("hung plugin pid %d still there, state %s", pid, st)
	}
	t.Logf("hang: Collect returned %s after the deadline, process killed and reaped", overshoot)
	if overshoot > time.Second {
		t.Errorf("overshoot %s", overshoot)
	}
	r, err := collect(t, pr, 10*time.Second, nil)
	if err != nil || gauge(r, "test.calls") != 1 || pr.PID() == pid {
		t.Errorf("run after the hang: calls %v, pid %d (hung one %d), %v", gauge(r, "test.calls"), pr.PID(), pid, err)
	}
}

func TestSIGKILLRestarted(t *testing.T) {
	pr, logs := newProbe(t, Options{})
	if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	pid := pr.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, "plugin process exited", "probe=tp", "signal: killed")
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("killed plugin %d not reaped: state %s", pid, st)
	}
	r, err := collect(t, pr, 10*time.Second, nil)
	if err != nil || gauge(r, "test.calls") != 1 || pr.PID() == pid || pr.PID() == 0 {
		t.Errorf("run after SIGKILL: calls %v, pid %d (killed %d), %v", gauge(r, "test.calls"), pr.PID(), pid, err)
	}
}

func TestChecksum(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pinned")
	b, err := os.ReadFile(testBin)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	sum, err := FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("ab", 32)

	_, err = New(Options{Name: "pinned", Path: bin, SHA256: wrong})
	var ce *ChecksumError
	if !errors.As(err, &ce) || !errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("wrong sum: %v", err)
	}
	for _, want := range []string{`plugin probe "pinned"`, bin, "its sha256 is " + sum, `pins sha256 = "` + wrong + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := New(Options{Name: "pinned", Path: bin, SHA256: "abc"}); err == nil || !strings.Contains(err.Error(), "64 hexadecimal") {
		t.Errorf("bad sum: %v", err)
	}

	// The right sum runs; a binary changed after New is refused at start.
	pr, _ := newProbe(t, Options{Name: "pinned", Path: bin, SHA256: strings.ToUpper(sum)})
	if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	pr, _ = newProbe(t, Options{Name: "pinned", Path: bin, SHA256: sum})
	os.WriteFile(bin, append(b, 0), 0o755)
	newSum, _ := FileSHA256(bin)
	_, err = collect(t, pr, 10*time.Second, nil)
	if !errors.As(err, &ce) || ce.Got != newSum || ce.Want != sum {
		t.Errorf("changed binary: %v", err)
	}
	assertNoChildren(t)
}

func TestNoOrphans(t *testing.T) {
	pr, _ := newProbe(t, Options{})
	r, err := collect(t, pr, 10*time.Second, map[string]any{"spawn": true})
	if err != nil {
		t.Fatal(err)
	}
	pid, child := pr.PID(), int(gauge(r, "test.child_pid"))
	if testenv.ProcState(child) == "" {
		t.Fatalf("the plugin's child %d is not running", child)
	}
	start := time.Now()
	pr.Close()
	t.Logf("Close took %s", time.Since(start))
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("plugin %d still there after Close: state %s", pid, st)
	}
	// The plugin's own child was killed with its process group. Once its
	// parent is gone it is init's to reap, so a zombie is all that may remain
	// once the kernel has delivered the SIGKILL.
	deadline := time.Now().Add(5 * time.Second)
	for st := testenv.ProcState(child); st != "" && st != "Z"; st = testenv.ProcState(child) {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's child %d survived Close: state %s", child, st)
		}
		time.Sleep(10 * time.Millisecond) // another process: polled on the real clock
	}
	assertNoChildren(t)
}

func TestStrayStdout(t *testing.T) {
	t.Run("init", func(t *testing.T) {
		t.Setenv("TESTPLUGIN_STDOUT", "init")
		pr, logs := newProbe(t, Options{})
		if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
			t.Fatalf("a plugin printing from init: %v", err)
		}
		logs.waitLog(t, "hello from init", "probe=tp", "stream=stderr")
	})
	t.Run("fd1", func(t *testing.T) {
		t.Setenv("TESTPLUGIN_STDOUT", "raw")
		pr, _ := newProbe(t, Options{})
		_, err := collect(t, pr, 10*time.Second, nil)
		if err == nil || !strings.Contains(err.Error(), `wrote "hello from fd 1" to stdout before its handshake`) {
			t.Fatalf("stray stdout before the handshake: %v", err)
		}
		assertNoChildren(t)
	})
	t.Run("collect", func(t *testing.T) {
		pr, logs := newProbe(t, Options{})
		if _, err := collect(t, pr, 10*time.Second, map[string]any{"stdout": "printed during collect"}); err != nil {
			t.Fatal(err)
		}
		logs.waitLog(t, "printed during collect", "probe=tp", "stream=stdout")
	})
}

func TestHostCallsHonourGrants(t *testing.T) {
	pr, logs := newProbe(t, Options{Grants: hostfuncs.Grants{Exec: []string{"echo"}, Read: []string{"/proc"}}})
	r, err := collect(t, pr, 10*time.Second, map[string]any{"exec": []string{"echo", "hi"}, "read": "/proc/self/status", "log": "a note"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != sdk.StatusOK || r.Message != "hi\n" || gauge(r, "test.read_bytes") <= 0 {
		t.Errorf("granted calls: %+v", r)
	}
	logs.waitLog(t, "level=WARN", `msg="a note calls=1"`, "probe=tp", "source=guest")

	for _, cfg := range []map[string]any{
		{"exec": []string{"id"}},
		{"read": "/etc/hostname"},
	} {
		r, err = collect(t, pr, 10*time.Second, cfg)
		if err != nil || r.Status != sdk.StatusCrit || !strings.Contains(r.Message, "denied:") {
			t.Errorf("%v: %+v, %v", cfg, r, err)
		}
	}
	if gauge(r, "test.pid") != float64(pr.PID()) {
		t.Error("a denied call cost the process")
	}
	if pr.Denied() != 2 {
		t.Errorf("Denied = %d, want 2", pr.Denied())
	}
	logs.waitLog(t, "host call denied", `exec of \"id\"`, "probe=tp")
}

func TestCloseDuringHang(t *testing.T) {
	pr, logs := newProbe(t, Options{})
	if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	pid := pr.PID()
	done := make(chan error, 1)
	go func() {
		_, err := collect(t, pr, time.Minute, map[string]any{"hang": true})
		done <- err
	}()
	logs.waitLog(t, "testplugin: hanging")
	start := time.Now()
	pr.Close()
	select {
	case err := <-done:
		if !errors.Is(err, errClosed) {
			t.Errorf("run cut by Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a hung run outlived Close")
	}
	t.Logf("Close of a hung plugin took %s", time.Since(start))
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("plugin %d still there: %s", pid, st)
	}
	assertNoChildren(t)
}

func TestStartTimeout(t *testing.T) {
	t.Setenv("TESTPLUGIN_START_DELAY", "5s")
	pr, _ := newProbe(t, Options{})
	start := time.Now()
	_, err := collect(t, pr, 300*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "timeout while waiting for plugin to start") {
		t.Errorf("slow start: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a start bounded by a 300ms run took %s", d)
	}
	assertNoChildren(t)
}

func TestKind(t *testing.T) {
	pr, _ := newProbe(t, Options{Kind: "nope"})
	_, err := collect(t, pr, 10*time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), `no probe of kind "nope" (it has [testplugin])`) {
		t.Errorf("unknown kind: %v", err)
	}
	pr, _ = newProbe(t, Options{Kind: "testplugin"})
	infos, err := pr.Describe(context.Background())
	if err != nil || len(infos) != 1 || infos[0].Name != "testplugin" {
		t.Errorf("Describe = %v, %v", infos, err)
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("x"), 0o644)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Path: testBin}, "a name is required"},
		{Options{Name: "x", Path: filepath.Join(dir, "missing")}, "no such file"},
		{Options{Name: "x", Path: dir}, "not a regular file"},
		{Options{Name: "x", Path: noexec}, "not executable"},
		{Options{Name: "x", Path: testBin, Grants: hostfuncs.Grants{Read: []string{"relative"}}}, "must be absolute"},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestKillAll(t *testing.T) {
	var pids []int
	for range 2 {
		pr, _ := newProbe(t, Options{})
		if _, err := collect(t, pr, 10*time.Second, nil); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pr.PID())
	}
	KillAll()
	for _, pid := range pids {
		if st := testenv.ProcState(pid); st != "" {
			t.Errorf("pid %d after KillAll: %s", pid, st)
		}
	}
	assertNoChildren(t)
}

// TestAgentKilled SIGKILLs an "agent" (this test binary re-run as a helper,
// holding a running plugin): the plugin must not outlive it.
func TestAgentKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgent$")
	cmd.Env = append(os.Environ(), "PLUGINHOST_HELPER_BIN="+testBin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pid int
	if _, err := fmt.Fscanf(out, "plugin %d\n", &pid); err != nil || pid == 0 {
		t.Fatalf("helper agent: %v", err)
	}
	if testenv.ProcState(pid) == "" {
		t.Fatalf("plugin %d not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	deadline := killed.Add(3 * time.Second)
	for testenv.ProcState(pid) != "" && testenv.ProcState(pid) != "Z" {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d outlived its SIGKILLed agent: state %s", pid, testenv.ProcState(pid))
		}
		time.Sleep(10 * time.Millisecond) // other processes: polled on the real clock
	}
	t.Logf("the plugin died %s after its agent", time.Since(killed).Round(time.Millisecond))
}

// TestHelperAgent is the agent TestAgentKilled kills; it does nothing in a
// normal test run.
func TestHelperAgent(t *testing.T) {
	bin := os.Getenv("PLUGINHOST_HELPER_BIN")
	if bin == "" {
		t.Skip("run by TestAgentKilled")
	}
	pr, err := New(Options{Name: "helper", Path: bin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Collect(context.Background(), sdk.Request{}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("plugin %d\n", pr.PID())
	time.Sleep(time.Minute) // a helper process, alive until TestAgentKilled kills it
}

// TestBadPlugins runs binaries that are not good plugins: each start fails
// with an error saying why, and leaves no process.
func TestBadPlugins(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script, want string
	}{
		{"newer-abi", "echo '1|2|unix|/nonexistent|grpc|'; sleep 5",
			"incompatible API version with plugin. Plugin version: 2, Client versions: [1]: the plugin was built for another protocol (ABI) version than this agent's 1; rebuild it"},
		{"exits", "echo 'cannot start: no config' >&2; exit 1",
			"the plugin exited before its handshake: cannot start: no config"},
		{"chatty", "echo 'Starting up...'; sleep 5",
			`the plugin wrote "Starting up..." to stdout before its handshake`},
		{"netrpc", "echo '1|1|unix|/nonexistent|netrpc|'; sleep 5",
			`unsupported plugin protocol "netrpc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, tc.name)
			os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755)
			pr, _ := newProbe(t, Options{Name: tc.name, Path: bin})
			start := time.Now()
			_, err := collect(t, pr, 10*time.Second, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q in it", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s to fail", d)
			}
			assertNoChildren(t)
		})
	}
}

// TestCloseDuringStart closes a probe while its plugin is still starting:
// Close returns only once that process is gone.
func TestCloseDuringStart(t *testing.T) {
	t.Setenv("TESTPLUGIN_START_DELAY", "300ms")
	pr, _ := newProbe(t, Options{})
	done := make(chan error, 1)
	go func() {
		_, err := collect(t, pr, 10*time.Second, nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(testenv.Children(t, os.Getpid())) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("children while starting: %q; want the plugin", testenv.Children(t, os.Getpid()))
		}
		time.Sleep(5 * time.Millisecond) // a process starting: polled on the real clock
	}
	pr.Close()
	assertNoChildren(t)
	if err := <-done; !errors.Is(err, errClosed) {
		t.Errorf("a run whose start was closed: %v", err)
	}
}
