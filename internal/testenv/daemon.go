package testenv

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// daemon is a server the harness runs for a test (Prometheus,
// Alertmanager): its own process group, killed if the test process dies,
// its output in a log file, stopped when the test ends.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
}

// freeLoopback picks a free loopback port for a daemon to listen on.
func freeLoopback(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs bin with args, logging to logPath, and returns once
// GET ready answers 200 (within 30 s).
func startDaemon(t testing.TB, name, bin string, args []string, logPath, ready string) *daemon {
	t.Helper()
	d := &daemon{name: name, log: logPath}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	logf.Close()
	t.Cleanup(d.stop)

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not ready after 30s: %v\n%s", name, err, tail(d.log, 20))
		}
		time.Sleep(100 * time.Millisecond) // another process starting up: polled on the real clock
	}
}

// stop ends the daemon: SIGTERM to its group, SIGKILL after 10 s.
func (d *daemon) stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
