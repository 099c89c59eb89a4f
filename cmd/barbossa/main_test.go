package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[[probe]]\nname = \"system\"\n"), 0o600)
	os.WriteFile(bad, []byte("[agent]\nworkers = 2\n\n[[probe]]\nname = \"system\"\ninterval = \"10s\"\ntimeout = \"20s\"\n"), 0o600)

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", good}, &out, &errOut); code != 0 {
		t.Fatalf("check good: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check", "--config", bad}, &out, &errOut); code != 1 {
		t.Fatalf("check bad: exit %d, want 1", code)
	}
	if want := bad + ":7: probe.timeout"; !strings.Contains(errOut.String(), want) {
		t.Errorf("check bad said %q, want it to name %q", errOut.String(), want)
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
// API, and sends SIGTERM: it must drain and exit 0.
func TestBinaryRunsAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "barbossa")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "barbossa.toml")
	os.WriteFile(cfg, []byte("[portal]\nlisten = \""+addr+"\"\n[[probe]]\nname = \"system\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n"), 0o600)

	var logs bytes.Buffer
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
