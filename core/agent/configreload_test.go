package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const reloadConfigV1 = `
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
[store]
flush_interval = "100ms"
[[probe]]
name = "system"
interval = "500ms"
timeout = "400ms"
[[probe]]
name = "flaky"
interval = "200ms"
timeout = "100ms"
[[probe]]
name = "answer"
runtime = "wasm"
source = "answer.wasm"
interval = "200ms"
timeout = "100ms"
`

// TestReloadConfig reloads the main file under a running agent: a probe
// is added, one changed, one removed, and the one left alone keeps its
// collector, health and history. A bad file (a type error and a check
// error) is refused whole with each problem's file and line in the log.
// A changed restart-only setting is named.
func TestReloadConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "answer.wasm"), watProbe(t, "answer", "v1"), 0o644)
	os.WriteFile(filepath.Join(dir, "hello.wasm"), watProbe(t, "hello", "new"), 0o644)
	base, logs, a, _ := startAgentWith(t, dir, reloadConfigV1)
	file := filepath.Join(dir, "barbossa.toml")

	waitFor(t, 20*time.Second, "runs of every probe", func() bool {
		s, _ := getProbe(t, base, "system")
		f, _ := getProbe(t, base, "flaky")
		w, _ := getProbe(t, base, "answer")
		return s.Runs >= 2 && f.Runs >= 2 && w.Runs >= 2
	})
	systemCollector := a.collectors["system"] // only loop writes it, and only on a change
	before, _ := getProbe(t, base, "system")

	// A bad file: a type error and a timeout longer than its interval.
	bad := strings.Replace(reloadConfigV1, `interval = "500ms"`, `interval = 500`, 1) +
		"[[probe]]\nname = \"hello\"\nruntime = \"wasm\"\nsource = \"hello.wasm\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
	os.WriteFile(file, []byte(bad), 0o600)
	if err := a.Reload(); err == nil {
		t.Fatal("a bad config was accepted")
	}
	for _, want := range []string{
		file + ":10: probe.interval", // the type error
		file + ":27: probe.timeout",  // the check error, in the same report
		"reload refused: the running config is kept",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
	if _, code := getProbe(t, base, "hello"); code != 404 {
		t.Errorf("a probe of the refused config runs (GET: %d)", code)
	}

	// A good one: hello added, answer changed (another module message and
	// interval), flaky removed, system untouched; the listen address
	// changed too, which needs a restart.
	good := strings.Replace(reloadConfigV1, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:1"`, 1)
	good = strings.Replace(good, "[[probe]]\nname = \"flaky\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\n", "", 1)
	good = strings.Replace(good, "source = \"answer.wasm\"\ninterval = \"200ms\"", "source = \"answer.wasm\"\ninterval = \"250ms\"", 1)
	good += "[[probe]]\nname = \"hello\"\nruntime = \"wasm\"\nsource = \"hello.wasm\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\n"
	os.WriteFile(file, []byte(good), 0o600)
	// A bad drop-in is skipped, as at start: it does not refuse the reload.
	os.Mkdir(filepath.Join(dir, "probes.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "probes.d", "bad.wasm"), watProbe(t, "bad", "x"), 0o644)
	os.WriteFile(filepath.Join(dir, "probes.d", "bad.toml"), []byte("interval = 5\n"), 0o644)
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, logs)
	}
	if _, code := getProbe(t, base, "flaky"); code != 404 {
		t.Errorf("the removed probe is still there (GET: %d)", code)
	}
	waitFor(t, 20*time.Second, "the added probe's report", func() bool {
		h, _ := getProbe(t, base, "hello")
		return h.Report != nil && h.Report.Message == "new"
	})
	w, _ := getProbe(t, base, "answer")
	if w.IntervalMS != 250 {
		t.Errorf("the changed probe's interval is %d ms, want 250", w.IntervalMS)
	}
	after, _ := getProbe(t, base, "system")
	same := a.collectors["system"] == systemCollector // Reload returned: loop is done with it
	if !same || after.Runs < before.Runs {
		t.Errorf("the unchanged probe was touched: same collector %v, runs %d -> %d", same, before.Runs, after.Runs)
	}
	if !strings.Contains(logs.String(), `bad.toml:1: interval`) {
		t.Errorf("the bad drop-in was not reported:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `keys=portal.listen`) {
		t.Errorf("the restart-only change is not named:\n%s", logs)
	}
	if a.Addr() == "127.0.0.1:1" {
		t.Error("the portal moved without a restart")
	}
}

// TestReloadNotRunning: a Reload before Run ends waits; after it, it fails
// at once.
func TestReloadNotRunning(t *testing.T) {
	_, _, a, stop := startAgentWith(t, t.TempDir(), testConfig)
	stop()
	if err := a.Reload(); err != ErrNotRunning {
		t.Errorf("Reload after Run = %v, want ErrNotRunning", err)
	}
}

// fakeNotifier records sd_notify messages.
type fakeNotifier struct {
	mu   sync.Mutex
	msgs []string
	at   []time.Time
}

func (f *fakeNotifier) Notify(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, state)
	f.at = append(f.at, time.Now())
}

// TestWatchdogOnFakeClock: pings every half interval while alive, none
// while not.
func TestWatchdogOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := &fakeNotifier{}
		var mu sync.Mutex
		ok := true
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			watchdog(ctx, 10*time.Second, n, func() bool { mu.Lock(); defer mu.Unlock(); return ok })
		}()
		time.Sleep(20*time.Second + time.Millisecond) // pings at 5, 10, 15, 20
		mu.Lock()
		ok = false
		mu.Unlock()
		time.Sleep(20 * time.Second) // none at 25..40
		mu.Lock()
		ok = true
		mu.Unlock()
		time.Sleep(5 * time.Second) // one at 45
		cancel()
		<-done
		var got []time.Duration
		for i, m := range n.msgs {
			if m != "WATCHDOG=1" {
				t.Errorf("message %d = %q", i, m)
			}
			got = append(got, n.at[i].Sub(start))
		}
		want := []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 45 * time.Second}
		if len(got) != len(want) {
			t.Fatalf("pings at %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("ping %d at %v, want %v", i, got[i], want[i])
			}
		}
	})
}

// TestNotifySocket runs an agent with NOTIFY_SOCKET and WATCHDOG_USEC set,
// as systemd starts a Type=notify service with WatchdogSec, and reads the
// real datagrams: READY after the portal listens, RELOADING and READY
// around a reload, watchdog pings, STOPPING at the end.
func TestNotifySocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("WATCHDOG_PID", "")
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("socket closed before %q", want)
				}
				if strings.Contains(m, want) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q within 20s", want)
			}
		}
	}
	_, _, a, stop := startAgentWith(t, t.TempDir(), testConfig)
	if m := next("READY=1"); !strings.Contains(m, "portal on "+a.Addr()) {
		t.Errorf("READY says %q, want the portal's address", m)
	}
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	go a.Reload()
	next("RELOADING=1")
	next("READY=1")
	stop()
	next("STOPPING=1")
}
