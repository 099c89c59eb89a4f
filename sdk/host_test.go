package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// fakeHost answers host calls with canned JSON and records them.
type fakeHost struct {
	resp  map[string]string
	calls []string
	logs  []string
}

func (f *fakeHost) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	f.calls = append(f.calls, fn+" "+string(req))
	return []byte(f.resp[fn]), nil
}

func (f *fakeHost) Log(level Level, msg string) { f.logs = append(f.logs, msg) }

func withHost(t *testing.T, f *fakeHost) {
	prev := SetTransport(f)
	t.Cleanup(func() { SetTransport(prev) })
}

func TestHostCalls(t *testing.T) {
	f := &fakeHost{resp: map[string]string{
		abi.FuncExec:     `{"exit_code":2,"stdout":"out","stderr":"bad flag\nusage"}`,
		abi.FuncReadFile: `{"data":"//4A","encoding":"base64"}`,
		abi.FuncHTTP:     `{"error":"denied: http GET of \"http://x/\" is not granted to probe \"p\""}`,
		abi.FuncDBus:     `{"body":[[["a",1]],"x"]}`,
	}}
	withHost(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	r, err := Exec(ctx, ExecRequest{Argv: []string{"tool", "-x"}})
	if err != nil || r.ExitCode != 2 || r.Stdout != "out" {
		t.Errorf("Exec = %+v, %v", r, err)
	}
	if !strings.Contains(f.calls[0], `"timeout_ms":`) {
		t.Errorf("the context's deadline was not passed on: %s", f.calls[0])
	}
	if _, err := Output(ctx, "tool"); err == nil || err.Error() != "tool: exit code 2: bad flag" {
		t.Errorf("Output: %v", err)
	}
	b, err := ReadFile(ctx, "/x", 0)
	if err != nil || string(b) != "\xff\xfe\x00" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	_, err = HTTP(ctx, HTTPRequest{URL: "http://x/"})
	var he *HostError
	if !errors.Is(err, ErrDenied) || errors.Is(err, ErrTimeout) || !errors.As(err, &he) || he.Func != "http" {
		t.Errorf("HTTP error = %v", err)
	}
	d, err := DBus(ctx, DBusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Units [][]any
		Name  string
	}
	var tuple []json.RawMessage
	if err := d.Decode(&tuple); err != nil || len(tuple) != 2 {
		t.Fatalf("Decode: %v %v", tuple, err)
	}
	json.Unmarshal(tuple[0], &reply.Units)
	json.Unmarshal(tuple[1], &reply.Name)
	if len(reply.Units) != 1 || reply.Units[0][0] != "a" || reply.Name != "x" {
		t.Errorf("dbus reply: %+v", reply)
	}

	cancel()
	if _, err := Exec(ctx, ExecRequest{Argv: []string{"tool"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context still called the host: %v", err)
	}
}

func TestNoHost(t *testing.T) {
	_, err := ReadFile(context.Background(), "/proc/loadavg", 0)
	if err == nil || !strings.Contains(err.Error(), "no host") {
		t.Errorf("native build without a transport: %v", err)
	}
}

func TestFormatLog(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		args []any
		want string
	}{
		{"plain", nil, "plain"},
		{"m", []any{"k", 1, "s", "two words"}, `m k=1 s="two words"`},
		{"m", []any{"k", ""}, `m k=""`},
		{"m", []any{"odd"}, `m !BADKEY=odd`},
	} {
		if got := formatLog(tc.msg, tc.args); got != tc.want {
			t.Errorf("formatLog(%q, %v) = %q, want %q", tc.msg, tc.args, got, tc.want)
		}
	}
	f := &fakeHost{}
	withHost(t, f)
	Log(LevelWarn, "hello", "n", 2)
	if len(f.logs) != 1 || f.logs[0] != "hello n=2" {
		t.Errorf("logs = %q", f.logs)
	}
}

func TestStatAndReadDir(t *testing.T) {
	f := &fakeHost{resp: map[string]string{
		abi.FuncStat:     `{"name":"a","type":"file","size":1048577,"mode":2541,"mtime_ns":1764720000123456789}`,
		abi.FuncReadFile: `{"entries":[{"name":"a","type":"file","size":7,"mtime_ns":1764720000000000000},{"name":"gone","type":"file"}],"truncated":true}`,
	}}
	withHost(t, f)
	ctx := context.Background()
	fi, err := Stat(ctx, "/d/a")
	want := FileInfo{Name: "a", Type: "file", Size: 1048577, Mode: 0o755 | fs.ModeSetuid, ModTime: time.Unix(0, 1764720000123456789)}
	if err != nil || fi != want {
		t.Errorf("Stat = %+v, %v; want %+v", fi, err, want)
	}
	if !strings.HasPrefix(f.calls[0], `stat {"path":"/d/a"`) {
		t.Errorf("request %s", f.calls[0])
	}
	entries, err := ReadDir(ctx, "/d")
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "stopped at 2 entries") {
		t.Errorf("a cut listing: %v", err)
	}
	if len(entries) != 2 || entries[0].Size != 7 || !entries[0].ModTime.Equal(time.Unix(1764720000, 0)) || !entries[1].ModTime.IsZero() {
		t.Errorf("entries %+v", entries)
	}
	f.resp[abi.FuncReadFile] = `{"entries":[]}`
	if entries, err := ReadDir(ctx, "/d"); err != nil || len(entries) != 0 {
		t.Errorf("an empty folder: %v %v", entries, err)
	}
}
