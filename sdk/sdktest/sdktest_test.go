package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

// fake answers every call with its function name and counts log lines; a
// call to "broken" fails as a broken transport would.
type fake struct{ logs []string }

func (f *fake) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	if fn == "broken" {
		return nil, errors.New("transport closed")
	}
	return []byte(`{"answer":"` + fn + `"}`), nil
}

func (f *fake) Log(_ sdk.Level, msg string) { f.logs = append(f.logs, msg) }

func TestRecordAndReplay(t *testing.T) {
	next := &fake{}
	rec := &Recorder{Next: next}
	ctx := context.Background()
	calls := []struct{ fn, req string }{
		{"exec", `{"argv":["tmux","ls"],"timeout_ms":950}`},
		{"http", `{"batch":[{"url":"unix:///s /a","timeout_ms":12},{"url":"unix:///s /b"}],"timeout_ms":3}`},
		{"broken", `{}`},
		{"read_file", `{"path":"/proc/uptime","max_bytes":64}`},
	}
	for _, c := range calls {
		resp, err := rec.Call(ctx, c.fn, []byte(c.req))
		if c.fn == "broken" {
			if err == nil {
				t.Error("a transport error was not passed on")
			}
			continue
		}
		if err != nil || string(resp) != `{"answer":"`+c.fn+`"}` {
			t.Errorf("%s: %s, %v", c.fn, resp, err)
		}
	}
	rec.Log(sdk.LevelInfo, "hello")
	if len(next.logs) != 1 || next.logs[0] != "hello" {
		t.Errorf("logs passed on: %q", next.logs)
	}
	if len(rec.Calls) != 3 {
		t.Fatalf("recorded %d calls, want 3 (a failed one is not kept): %+v", len(rec.Calls), rec.Calls)
	}
	if got := string(rec.Calls[1].Request); got != `{"batch":[{"url":"unix:///s /a"},{"url":"unix:///s /b"}]}` {
		t.Errorf("recorded request %s still has timeouts", got)
	}
	if got := string(rec.Calls[2].Request); got != `{"max_bytes":64,"path":"/proc/uptime"}` {
		t.Errorf("recorded request %s, want its keys sorted", got)
	}

	file := filepath.Join(t.TempDir(), "replay.json")
	if err := rec.Save(file); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !strings.HasPrefix(string(b), "[\n {\n  \"func\": \"exec\",") || !strings.HasSuffix(string(b), "]\n") {
		t.Errorf("saved:\n%s", b)
	}
	replay, err := LoadReplay(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ fn, req, want string }{
		{"exec", `{"timeout_ms":17,"argv":["tmux","ls"]}`, `{"answer":"exec"}`},
		{"http", `{"timeout_ms":1,"batch":[{"url":"unix:///s /a","timeout_ms":5},{"url":"unix:///s /b"}]}`, `{"answer":"http"}`},
		{"read_file", `{"max_bytes":64,"path":"/proc/uptime","timeout_ms":2}`, `{"answer":"read_file"}`},
	} {
		resp, err := replay.Call(ctx, c.fn, []byte(c.req))
		var compact bytes.Buffer
		if err != nil || json.Compact(&compact, resp) != nil || compact.String() != c.want {
			t.Errorf("replay of %s %s: %s, %v", c.fn, c.req, resp, err)
		}
	}
	_, err = replay.Call(ctx, "exec", []byte(`{"argv":["tmux","ls","-a"],"timeout_ms":5}`))
	if err == nil || err.Error() != `replay: no recorded response to exec {"argv":["tmux","ls","-a"]}` {
		t.Errorf("a changed request: %v", err)
	}
	replay.Log(sdk.LevelError, "dropped") // must not panic without a next transport
}

func TestLoadReplayErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadReplay(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"func":"exec"}`), 0o644)
	if _, err := LoadReplay(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("not a list of calls: %v", err)
	}
	if err := (&Recorder{}).Save(filepath.Join(dir, "no", "such", "dir.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("save into a missing folder: %v", err)
	}
}

// failures is a testing.TB that keeps what would fail the test.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Helper()                   {}
func (f *failures) Fatal(args ...any)         { f.msgs = append(f.msgs, fmt.Sprint(args...)) }
func (f *failures) Errorf(s string, a ...any) { f.msgs = append(f.msgs, fmt.Sprintf(s, a...)) }

func TestGolden(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report.golden.json")
	os.WriteFile(file, []byte("{\"status\": \"ok\"}\n"), 0o644)

	f := &failures{TB: t}
	Golden(f, file, []byte("{\"status\": \"ok\"}\n"), false)
	if len(f.msgs) != 0 {
		t.Errorf("same output: %q", f.msgs)
	}

	f = &failures{TB: t}
	Golden(f, file, []byte("{\"status\": \"crit\"}\n"), false)
	if len(f.msgs) != 1 || !strings.Contains(f.msgs[0], "differs from "+file) || !strings.Contains(f.msgs[0], `"crit"`) {
		t.Errorf("other output: %q", f.msgs)
	}

	f = &failures{TB: t}
	Golden(f, file, []byte("{\"status\": \"crit\"}\n"), true)
	if b, _ := os.ReadFile(file); len(f.msgs) != 0 || string(b) != "{\"status\": \"crit\"}\n" {
		t.Errorf("update: %q, file %q", f.msgs, b)
	}

	f = &failures{TB: t}
	Golden(f, filepath.Join(t.TempDir(), "missing.json"), []byte("{}"), false)
	if len(f.msgs) == 0 || !strings.Contains(f.msgs[0], "no such file") {
		t.Errorf("no golden file: %q", f.msgs)
	}
}
