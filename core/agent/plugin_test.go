package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// buildTestPlugin builds core/pluginhost's test plugin into dir.
func buildTestPlugin(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", bin, "../pluginhost/testdata/testplugin").CombinedOutput()
	if err != nil {
		t.Fatalf("build test plugin: %v\n%s", err, out)
	}
	return bin
}

// The timeout leaves room for starting the plugin process and its child
// under -race on a loaded machine (150 ms was not always enough).
const pluginConfig = `
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
[[probe]]
name = "tp"
runtime = "plugin"
source = "testplugin"
sha256 = %q
interval = "1s"
timeout = "900ms"
[probe.config]
spawn = true
`

func loadPluginConfig(t *testing.T, dir, sum string) *config.Config {
	t.Helper()
	file := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(file, []byte(fmt.Sprintf(pluginConfig, sum)), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestPluginProbeLeavesNothing runs a plugin probe (one that starts a child
// of its own) in the agent, then stops the agent: no process may remain.
func TestPluginProbeLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	sum, err := pluginhost.FileSHA256(buildTestPlugin(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(loadPluginConfig(t, dir, sum), slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var pid, child int
	deadline := time.Now().Add(15 * time.Second)
	for pid == 0 || child == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no report from the plugin probe: %+v", a.Health())
		}
		time.Sleep(20 * time.Millisecond) // a plugin process: polled on the real clock
		rec, ok, _ := a.Latest("tp")
		if !ok {
			continue
		}
		for _, m := range rec.Report.Metrics {
			switch m.Name {
			case "test.pid":
				pid = int(m.Value)
			case "test.child_pid":
				child = int(m.Value)
			}
		}
	}
	if h, _ := a.sched.HealthOf("tp"); h.State != "ok" || h.Runtime != "plugin" {
		t.Errorf("health: %+v", h)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop")
	}
	if st := testenv.ProcState(pid); st != "" {
		t.Errorf("plugin pid %d left after the agent stopped: state %s", pid, st)
	}
	if st := testenv.ProcState(child); st != "" && st != "Z" { // a zombie is init's to reap
		t.Errorf("the plugin's child %d left after the agent stopped: state %s", child, st)
	}
	for _, c := range testenv.Children(t, os.Getpid()) {
		t.Errorf("process left behind: %s", c)
	}
}

// TestPluginProbeCrashRecovers: a plugin that crashes once costs one failed
// run; the next run restarts it and the probe is healthy again.
func TestPluginProbeCrashRecovers(t *testing.T) {
	dir := t.TempDir()
	buildTestPlugin(t, dir)
	marker := filepath.Join(dir, "crash")
	os.WriteFile(marker, nil, 0o600)
	cfg := loadPluginConfig(t, dir, "")
	cfg.Probes[0].Config = map[string]any{"crash_once": marker}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		h, _ := a.sched.HealthOf("tp")
		if h.Failures == 1 && h.State == "ok" && h.Runs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not recover from its crash: %+v", h)
		}
		// The failing state lasts one interval; seen, it must say why.
		if h.State == "failing" && !strings.Contains(h.LastError, "exited during the run (exit status 2)") {
			t.Errorf("crash recorded as %q", h.LastError)
		}
		time.Sleep(20 * time.Millisecond) // a plugin process: polled on the real clock
	}
}

func TestPluginProbeWrongChecksum(t *testing.T) {
	dir := t.TempDir()
	bin := buildTestPlugin(t, dir)
	sum, _ := pluginhost.FileSHA256(bin)
	wrong := strings.Repeat("0", 64)
	_, err := New(loadPluginConfig(t, dir, wrong), slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	for _, want := range []string{`probe "tp"`, "refusing to run " + bin, "its sha256 is " + sum, wrong} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("agent with a mismatching plugin: %v; want %q in it", err, want)
		}
	}
}
