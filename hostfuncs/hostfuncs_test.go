package hostfuncs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
	"github.com/barbossa-agent/barbossa/internal/testenv/proc"
	"github.com/barbossa-agent/barbossa/sdk"
)

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		ci.Missing(t, name+" is not installed (sudo scripts/test-deps.sh)")
	}
	return p
}

// newCaller returns a Caller for probe "x" whose log goes to buf.
func newCaller(t *testing.T, g Grants) (*Caller, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	h := New(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { h.Close() })
	c, err := h.NewCaller("x", g, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, &buf
}

// call runs fn with req through the JSON entry point and decodes the
// response into resp; it returns the response's error, if any.
func call(t *testing.T, c *Caller, ctx context.Context, fn string, req, resp any) string {
	t.Helper()
	in, _ := json.Marshal(req)
	out, err := c.Call(ctx, fn, in)
	if err != nil {
		t.Fatal(err)
	}
	var e abi.ErrorResponse
	json.Unmarshal(out, &e)
	if e.Error != "" {
		return e.Error
	}
	if resp != nil {
		if err := json.Unmarshal(out, resp); err != nil {
			t.Fatalf("%s", out)
		}
	}
	return ""
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestExec(t *testing.T) {
	c, log := newCaller(t, Grants{Exec: []string{"sh", "echo", "head"}})
	// No run deadline: each call has exec's own budget. One deadline shared
	// by all of them raced the 3 MB read below on a busy machine.
	ctx := context.Background()

	var r sdk.ExecResponse
	if e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"echo", "a b", "$HOME", ";", "ls"}}, &r); e != "" {
		t.Fatal(e)
	}
	if r.Stdout != "a b $HOME ; ls\n" || r.ExitCode != 0 {
		t.Errorf("argv is not passed verbatim (no shell): %+v", r)
	}
	call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}}, &r)
	if r.ExitCode != 3 || r.Stderr != "oops\n" {
		t.Errorf("exit code: %+v", r)
	}
	call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $SECRET_TOKEN; pwd"}}, &r)
	if r.Stdout != "\n/\n" {
		t.Errorf("environment or directory leaked: %q", r.Stdout)
	}
	call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"head", "-c", "3000000", "/dev/zero"}}, &r)
	if !r.Truncated || len(r.Stdout) != maxExecOutput {
		t.Errorf("output not capped: truncated %v, %d bytes", r.Truncated, len(r.Stdout))
	}

	for _, argv := range [][]string{{"rm", "-rf", "/"}, {"/tmp/sh"}, {"bash"}} {
		e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: argv}, nil)
		if want := `denied: exec of "` + argv[0] + `" is not granted to probe "x"`; e != want {
			t.Errorf("exec %v: %q, want %q", argv, e, want)
		}
	}
	if c.Denied() != 3 {
		t.Errorf("Denied() = %d", c.Denied())
	}
	if !strings.Contains(log.String(), `level=WARN msg="host call denied" probe=x func=exec denied="exec of \"rm\""`) {
		t.Errorf("log:\n%s", log)
	}
	if e := call(t, c, ctx, "exec", sdk.ExecRequest{}, nil); e != "exec: argv is empty" {
		t.Errorf("empty argv: %q", e)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	c, _ := newCaller(t, Grants{Exec: []string{"sh"}})
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// The run's deadline (300ms) comes before the request's (5s).
	e := call(t, c, ctxTimeout(t, 300*time.Millisecond), "exec",
		sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}, TimeoutMS: 5000}, nil)
	// The message gives what was left of the run's deadline when the call
	// began: a little under 300ms on a busy machine.
	if took := time.Since(start); !regexp.MustCompile(`^timeout: exec of "sh" after [0-9]+ms`).MatchString(e) || took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("%q after %s", e, took)
	}
	b, _ := os.ReadFile(pidFile)
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil {
		t.Fatalf("pid file: %q", b)
	}
	if proc.StillRunning(pid, 2*time.Second) {
		t.Errorf("the grandchild %d outlived the timeout", pid)
	}
	// The request's own timeout.
	e = call(t, c, ctxTimeout(t, 10*time.Second), "exec", sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 5"}, TimeoutMS: 100}, nil)
	if e != `timeout: exec of "sh" after 100ms` {
		t.Errorf("%q", e)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	granted := filepath.Join(dir, "granted")
	secret := filepath.Join(dir, "secret")
	os.Mkdir(granted, 0o755)
	os.Mkdir(secret, 0o755)
	os.WriteFile(filepath.Join(granted, "f"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(granted, "bin"), []byte{0xff, 0xfe, 0}, 0o644)
	os.WriteFile(filepath.Join(secret, "s"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(secret, "s"), filepath.Join(granted, "out"))
	os.Symlink(secret, filepath.Join(granted, "outdir"))
	os.Symlink(filepath.Join(granted, "f"), filepath.Join(granted, "in"))
	os.Mkdir(filepath.Join(granted, "empty"), 0o755)
	syscall.Mkfifo(filepath.Join(granted, "fifo"), 0o644)

	c, _ := newCaller(t, Grants{Read: []string{granted, "/proc"}})
	ctx := ctxTimeout(t, 10*time.Second)
	read := func(path string, max int64) (abi.ReadFileResponse, string) {
		var r abi.ReadFileResponse
		e := call(t, c, ctx, "read_file", abi.ReadFileRequest{Path: path, MaxBytes: max}, &r)
		return r, e
	}
	if r, e := read(filepath.Join(granted, "f"), 0); e != "" || r.Data != "hello" || r.Truncated {
		t.Errorf("plain read: %+v %q", r, e)
	}
	if r, e := read(filepath.Join(granted, "in"), 0); e != "" || r.Data != "hello" {
		t.Errorf("symlink inside the grant: %+v %q", r, e)
	}
	if r, e := read(filepath.Join(granted, "f"), 2); e != "" || r.Data != "he" || !r.Truncated {
		t.Errorf("max_bytes: %+v %q", r, e)
	}
	if r, e := read(filepath.Join(granted, "bin"), 0); e != "" || r.Encoding != "base64" || r.Data != "//4A" {
		t.Errorf("binary: %+v %q", r, e)
	}
	if r, e := read("/proc/self/status", 0); e != "" || !strings.Contains(r.Data, "VmRSS") {
		t.Errorf("/proc: %q", e)
	}
	var d struct{ Entries []abi.DirEntry }
	if e := call(t, c, ctx, "read_file", abi.ReadFileRequest{Path: filepath.Join(granted, "empty")}, &d); e != "" || d.Entries == nil || len(d.Entries) != 0 {
		t.Errorf("empty dir: %+v %q", d, e)
	}
	if r, e := read(granted, 0); e != "" || len(r.Entries) != 7 {
		t.Errorf("dir: %+v %q", r, e)
	}

	for _, tc := range []struct{ path, want string }{
		{filepath.Join(granted, "..", "secret", "s"), `denied: read of "` + filepath.Join(secret, "s") + `" is not granted to probe "x"`},
		{filepath.Join(granted, "out"), `denied: read of "` + filepath.Join(granted, "out") + `" (it resolves to "` + filepath.Join(secret, "s") + `") is not granted to probe "x"`},
		{filepath.Join(granted, "outdir", "s"), `denied: read of "` + filepath.Join(granted, "outdir", "s") + `" (it resolves to "` + filepath.Join(secret, "s") + `")`},
		{"/proc/self/root/etc/passwd", `denied: read of "/proc/self/root/etc/passwd" (it resolves to "/etc/passwd")`},
		{"/etc/passwd", `denied: read of "/etc/passwd"`},
		{granted + strings.Repeat("/..", 20) + "/etc/passwd", `denied: read of "/etc/passwd"`},
		{"relative/f", `read_file: path "relative/f" is not absolute`},
		{filepath.Join(granted, "fifo"), `is not a regular file`},
		{filepath.Join(granted, "missing"), `no such file or directory`},
	} {
		if _, e := read(tc.path, 0); !strings.HasPrefix(e, tc.want) && !strings.Contains(e, tc.want) {
			t.Errorf("read %s: %q, want %q", tc.path, e, tc.want)
		}
	}
	if c.Denied() != 6 {
		t.Errorf("Denied() = %d, want 6", c.Denied())
	}
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "yes")
		w.Write([]byte("path " + r.URL.Path + " " + r.Header.Get("X-Req")))
	})
	mux.HandleFunc("/ok/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.255.255.1/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/ok/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/ok/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), maxHTTPBody+10))
	})
	mux.HandleFunc("/secret", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	usrv := &http.Server{Handler: mux}
	go usrv.Serve(ln)
	defer usrv.Close()

	c, _ := newCaller(t, Grants{HTTP: []string{srv.URL + "/ok/", "unix://" + sock}})
	// No run deadline: each call has http's own budget. One deadline shared
	// by all of them raced the 8 MiB body below on a busy machine.
	ctx := context.Background()
	var r sdk.HTTPResponse
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{URL: srv.URL + "/ok/a", Headers: map[string]string{"X-Req": "hi"}}, &r); e != "" || r.Status != 200 || r.Body != "path /ok/a hi" || r.Headers["X-Test"] != "yes" {
		t.Errorf("tcp: %+v %q", r, e)
	}
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{Socket: sock, URL: "http://docker/ok/b"}, &r); e != "" || r.Body != "path /ok/b " {
		t.Errorf("unix: %+v %q", r, e)
	}
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{URL: srv.URL + "/ok/redirect"}, &r); e != "" || r.Status != http.StatusFound {
		t.Errorf("redirect followed: %+v %q", r, e)
	}
	if e := call(t, c, ctx, "http", sdk.HTTPRequest{URL: srv.URL + "/ok/big"}, &r); e != "" || !r.Truncated || len(r.Body) != maxHTTPBody {
		t.Errorf("body not capped: %v %d %q", r.Truncated, len(r.Body), e)
	}
	start := time.Now()
	if e := call(t, c, ctxTimeout(t, 200*time.Millisecond), "http", sdk.HTTPRequest{URL: srv.URL + "/ok/slow"}, nil); !strings.HasPrefix(e, "timeout: http GET") || time.Since(start) > 3*time.Second {
		t.Errorf("deadline: %q after %s", e, time.Since(start))
	}
	for _, req := range []sdk.HTTPRequest{
		{URL: srv.URL + "/secret"},
		{URL: srv.URL + "/ok/../secret"},
		{URL: srv.URL + "/okx"},
		{URL: "http://10.255.255.1/ok/"},
		{Socket: sock + "2", URL: "http://x/ok/"},
		{Socket: "/var/run/docker.sock", URL: "/containers/json"},
	} {
		if e := call(t, c, ctx, "http", req, nil); !strings.HasPrefix(e, "denied: http") || !strings.HasSuffix(e, `is not granted to probe "x"`) {
			t.Errorf("%+v: %q", req, e)
		}
	}
	if c.Denied() != 6 {
		t.Errorf("Denied() = %d", c.Denied())
	}
}

// TestEveryHostCallImplemented: each JSON host function of the ABI is
// served (a plain request reaches it: an empty one is refused by the
// function itself, not as unknown).
func TestEveryHostCallImplemented(t *testing.T) {
	c, _ := newCaller(t, Grants{})
	for _, fn := range abi.HostCalls() {
		if e := call(t, c, context.Background(), fn, struct{}{}, nil); e == "" || strings.Contains(e, "unknown host function") {
			t.Errorf("%s: %q", fn, e)
		}
	}
	if len(hostFuncs) != len(abi.HostCalls()) {
		t.Errorf("hostfuncs serves %d functions, the ABI has %d", len(hostFuncs), len(abi.HostCalls()))
	}
}

func TestCallAfterDeadline(t *testing.T) {
	c, _ := newCaller(t, Grants{Exec: []string{"echo"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if e := call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"echo"}}, nil); !strings.HasPrefix(e, "timeout:") {
		t.Errorf("%q", e)
	}
	if e := call(t, c, context.Background(), "nope", struct{}{}, nil); e != `unknown host function "nope"` {
		t.Errorf("%q", e)
	}
	if e := call(t, c, context.Background(), "exec", "not an object", nil); !strings.HasPrefix(e, "bad request:") {
		t.Errorf("%q", e)
	}
}

func TestLogLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, logs := newCaller(t, Grants{})
		for range maxLogPerMinute + 5 {
			c.Log(sdk.LevelInfo, "chatty")
		}
		if n := strings.Count(logs.String(), "msg=chatty"); n != maxLogPerMinute {
			t.Errorf("%d messages logged in a burst, want %d", n, maxLogPerMinute)
		}
		// The window is a minute from its first message: one just before its
		// end is still dropped; at its end a new window opens, says how many
		// were dropped, and logs again.
		time.Sleep(time.Minute - time.Nanosecond)
		c.Log(sdk.LevelInfo, "late")
		if strings.Contains(logs.String(), "late") {
			t.Error("a message past the limit was logged before the minute was over")
		}
		time.Sleep(time.Nanosecond)
		c.Log(sdk.LevelInfo, "next")
		want := fmt.Sprintf(`msg="probe log messages dropped" probe=x dropped=6 limit_per_minute=%d`, maxLogPerMinute)
		if got := logs.String(); !strings.Contains(got, want) || !strings.Contains(got, "msg=next") {
			t.Errorf("a minute on: log lacks %q or the new message:\n%s", want, got)
		}
	})
}

func TestTransportToSDK(t *testing.T) {
	// A native probe's sdk calls go through a Caller, with the same checks.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("via sdk"), 0o644)
	c, _ := newCaller(t, Grants{Read: []string{dir}})
	defer sdk.SetTransport(sdk.SetTransport(c))
	b, err := sdk.ReadFile(context.Background(), filepath.Join(dir, "f"), 0)
	if err != nil || string(b) != "via sdk" {
		t.Errorf("ReadFile: %q %v", b, err)
	}
	_, err = sdk.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"rm"}})
	if !errors.Is(err, sdk.ErrDenied) || err.Error() != `exec: denied: exec of "rm" is not granted to probe "x"` {
		t.Errorf("Exec: %v", err)
	}
}

func TestRepeatedDenialWarnsOnce(t *testing.T) {
	c, logs := newCaller(t, Grants{})
	ctx := ctxTimeout(t, 5*time.Second)
	for range 5 {
		call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"rm", "-rf", "/"}}, nil)
	}
	call(t, c, ctx, "exec", sdk.ExecRequest{Argv: []string{"reboot"}}, nil)
	if c.Denied() != 6 {
		t.Errorf("denied = %d, want every call counted (6)", c.Denied())
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"host call denied\""); n != 2 {
		t.Errorf("%d denial warnings, want one per distinct denial (2):\n%s", n, logs)
	}
}
