//go:build linux

package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestHelperAgent is the agent TestFullDisk runs in a process of its own,
// so that a crash (a SIGBUS) is a dead child, not a dead test binary. It
// runs only when BARBOSSA_TEST_AGENT names a config; it writes the
// portal's address to BARBOSSA_TEST_AGENT_ADDR and runs until SIGTERM.
func TestHelperAgent(t *testing.T) {
	file := os.Getenv("BARBOSSA_TEST_AGENT")
	if file == "" {
		t.Skip("the agent run by TestFullDisk")
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for a.Addr() == "" {
		time.Sleep(10 * time.Millisecond) // Run starts the portal; nothing to wait on but its address
	}
	if err := os.WriteFile(os.Getenv("BARBOSSA_TEST_AGENT_ADDR"), []byte(a.Addr()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// childAgent is an agent process started by startChild.
type childAgent struct {
	cmd  *exec.Cmd
	base string
	log  string
	done chan error
}

func startChild(t *testing.T, cfgFile, logFile string) *childAgent {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgent$", "-test.v")
	cmd.Env = append(os.Environ(), "BARBOSSA_TEST_AGENT="+cfgFile, "BARBOSSA_TEST_AGENT_ADDR="+addrFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childAgent{cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	waitFor(t, 30*time.Second, "the agent's portal", func() bool {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("the agent exited at start: %v\n%s", err, c.logs())
		default:
		}
		b, err := os.ReadFile(addrFile)
		if err == nil && len(b) > 0 {
			c.base = "http://" + string(b)
		}
		return c.base != ""
	})
	return c
}

func (c *childAgent) logs() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// alive fails the test if the agent process has died.
func (c *childAgent) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		t.Fatalf("the agent died: %v\n%s", err, tail(c.logs(), 4000))
	default:
	}
	resp, err := http.Get(c.base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

func (c *childAgent) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("the agent exited with %v\n%s", err, tail(c.logs(), 4000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop within 30s")
	}
}

type storeStatus struct {
	Store struct {
		Writable  bool   `json:"writable"`
		Error     string `json:"error"`
		FreeBytes uint64 `json:"free_bytes"`
		Dropped   uint64 `json:"dropped"`
	} `json:"store"`
	Alerts []struct{ Kind, Message string } `json:"alerts"`
}

func (c *childAgent) status(t *testing.T) storeStatus {
	t.Helper()
	var s storeStatus
	getJSON(t, c.base+"/api/v1/status", &s)
	return s
}

// points counts the system probe's samples of system.load.1 over the last
// 10 minutes (one per run: runs are 500 ms apart, the step 100 ms).
func (c *childAgent) points(t *testing.T) int {
	t.Helper()
	var q struct{ Series []seriesJSON }
	if code := getJSON(t, c.base+`/api/v1/query?from=-10m&step=0.1&series=system.load.1{probe="system"}`, &q); code != 200 {
		t.Fatalf("query: %d", code)
	}
	if len(q.Series) != 1 {
		return 0
	}
	return len(q.Series[0].Points)
}

var dropped = regexp.MustCompile(`barbossa_probe_dropped_total\{probe="system",reason="disk_full"\} (\d+)`)

// The agent on a disk that fills up: it stops writing (never a SIGBUS,
// which is how a full disk killed it, over and over on every start: issue
// #8, finding 4), keeps serving what it has, counts and shows what it
// loses, and writes again once space is freed; started on a full disk, it
// runs, serves its history and loads a WASM probe whose compilation cache
// cannot be written.
func TestFullDisk(t *testing.T) {
	mnt := testenv.Tmpfs(t, 256<<20)
	dir := t.TempDir()
	mod := staticGuest(t, dir, "answer", "answer", `{"status":"ok","metrics":[{"name":"answer.v","value":42}],"entities":[]}`)
	cfgFile := filepath.Join(dir, "barbossa.toml")
	cfg := fmt.Sprintf(`
[agent]
data_dir = %q
[portal]
listen = "127.0.0.1:0"
[store]
flush_interval = "100ms"
min_free = "64MiB"
[[probe]]
name = "system"
interval = "500ms"
timeout = "400ms"
[[probe]]
name = "answer"
runtime = "wasm"
source = %q
interval = "500ms"
timeout = "400ms"
`, filepath.Join(mnt, "data"), mod)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "agent.log")

	c := startChild(t, cfgFile, logFile)
	waitFor(t, 30*time.Second, "system.load.1 history", func() bool { return c.points(t) >= 4 })

	// Filled by someone else to below min_free (64 MiB; 16 of them the
	// store's reserve), with less left than Badger's sparse files take.
	fill := testenv.Fill(t, mnt, 8<<20)
	waitFor(t, 10*time.Second, "the store to stop writing", func() bool { return !c.status(t).Store.Writable })
	st := c.status(t)
	if !strings.Contains(st.Store.Error, "disk nearly full") || len(st.Alerts) == 0 {
		t.Errorf("status of a full store: %+v", st)
	}
	had := c.points(t)
	if had < 4 {
		t.Errorf("history while full: %d points", had)
	}
	waitFor(t, 10*time.Second, "drops counted in /metrics", func() bool {
		m := dropped.FindStringSubmatch(getText(t, c.base+"/metrics"))
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n > 0
	})
	if m := getText(t, c.base+"/metrics"); !strings.Contains(m, "barbossa_store_writable 0") {
		t.Errorf("/metrics: %s", grepLines(m, "barbossa_store"))
	}
	c.alive(t)

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the store to write again", func() bool { return c.status(t).Store.Writable })
	waitFor(t, 10*time.Second, "new points", func() bool { return c.points(t) > had })
	c.stop(t)

	// A full disk at start, and a WASM cache to write.
	if err := os.RemoveAll(filepath.Join(mnt, "data", "wasm-cache")); err != nil {
		t.Fatal(err)
	}
	fill = testenv.Fill(t, mnt, 0)
	c = startChild(t, cfgFile, logFile)
	c.alive(t)
	if st := c.status(t); st.Store.Writable || !strings.Contains(st.Store.Error, "stored history is served") {
		t.Errorf("status when started full: %+v", st)
	}
	if n := c.points(t); n < had {
		t.Errorf("history when started full: %d points, had %d", n, had)
	}
	var answer healthJSON
	waitFor(t, 20*time.Second, "the WASM probe to run", func() bool {
		getJSON(t, c.base+"/api/v1/probes/answer", &answer)
		return answer.Runs >= 2
	})
	if answer.State != "ok" {
		t.Errorf("the WASM probe on a full disk: %+v", answer)
	}
	if logs := c.logs(); !strings.Contains(logs, "wasm compilation cache") {
		t.Errorf("no compilation cache warning in the log:\n%s", tail(logs, 4000))
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	before := c.points(t)
	waitFor(t, 20*time.Second, "the store to write again", func() bool { return c.status(t).Store.Writable })
	waitFor(t, 10*time.Second, "new points", func() bool { return c.points(t) > before })
	c.stop(t)
	if logs := c.logs(); strings.Contains(logs, "SIGBUS") || strings.Contains(logs, "fatal error") {
		t.Errorf("the agent crashed:\n%s", logs)
	}
}
