package tmux

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// line joins fields with the format separator.
func line(fields ...string) string { return strings.Join(fields, sep) + "\n" }

func TestParse(t *testing.T) {
	created := time.Unix(1700000000, 0).UTC()
	active := time.Unix(1700000600, 0).UTC()
	for _, tc := range []struct {
		name string
		out  string
		want []Session
		errs []string
	}{
		{name: "empty", out: ""},
		{
			name: "two sessions with panes",
			out: line("S", "$0", "work", "2", "1", "1700000000", "1700000600", "/home/me/src") +
				line("S", "$1", "idle", "1", "0", "1700000000", "0", "/") +
				line("P", "$0", "0", "editor", "0", "1", "1", "0", "101", "vim") +
				line("P", "$0", "0", "editor", "1", "0", "1", "0", "102", "bash") +
				line("P", "$0", "1", "logs", "0", "1", "0", "1", "", "tail") +
				line("P", "$1", "0", "sh", "0", "1", "1", "0", "200", "sleep"),
			want: []Session{
				{ID: "$0", Name: "work", Windows: 2, Attached: 1, Created: created, Activity: active, Path: "/home/me/src", Panes: []Pane{
					{Window: 0, WindowName: "editor", Index: 0, Active: true, PID: 101, Command: "vim", windowActive: true},
					{Window: 0, WindowName: "editor", Index: 1, PID: 102, Command: "bash", windowActive: true},
					{Window: 1, WindowName: "logs", Index: 0, Dead: true, Command: "tail"},
				}},
				{ID: "$1", Name: "idle", Windows: 1, Created: created, Path: "/", Panes: []Pane{
					{Window: 0, WindowName: "sh", Index: 0, Active: true, PID: 200, Command: "sleep", windowActive: true},
				}},
			},
		},
		{
			name: "separator inside the path goes to the path",
			out:  line("S", "$2", "odd", "1", "0", "1700000000", "1700000000", "/tmp/a"+sep+"b"),
			want: []Session{{ID: "$2", Name: "odd", Windows: 1, Created: created, Activity: created, Path: "/tmp/a" + sep + "b"}},
		},
		{
			name: "escaped names stay as tmux prints them",
			out:  line("S", "$3", `wo\trk`, "1", "0", "1700000000", "1700000000", "/"),
			want: []Session{{ID: "$3", Name: `wo\trk`, Windows: 1, Created: created, Activity: created, Path: "/"}},
		},
		{
			name: "a pane of a session created between the two listings is dropped",
			out:  line("P", "$9", "0", "x", "0", "1", "1", "0", "5", "sh"),
		},
		{
			name: "bad lines are reported, good ones kept",
			out: "garbage\n" +
				line("S", "$0", "a", "x", "0", "1", "1", "/") +
				line("S", "$1", "b", "1", "0") +
				line("P", "$4", "zero", "x", "0", "1", "1", "0", "5", "sh") +
				line("S", "$5", "ok", "1", "0", "1700000000", "1700000000", "/"),
			want: []Session{{ID: "$5", Name: "ok", Windows: 1, Created: created, Activity: created, Path: "/"}},
			errs: []string{"line 1", "windows: strconv.Atoi", "4 fields, want 7", "window_index"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := parse(tc.out)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sessions:\n got %+v\nwant %+v", got, tc.want)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors = %v, want %d", errs, len(tc.errs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tc.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e, tc.errs[i])
				}
			}
		})
	}
}

func TestNoServer(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		want   bool
	}{
		{"no server running on /tmp/tmux-0/default\n", true},
		{"error connecting to /tmp/tmux-0/default (No such file or directory)\n", true},
		{"error connecting to /tmp/x (Connection refused)\n", true},
		{"server exited unexpectedly\n", true},
		{"error connecting to /tmp/tmux-1000/default (Permission denied)\n", false},
		{"unknown option -- Z\n", false},
		{"", false},
	} {
		if got := noServer(tc.stderr); got != tc.want {
			t.Errorf("noServer(%q) = %v, want %v", tc.stderr, got, tc.want)
		}
	}
}

func TestCommand(t *testing.T) {
	got := command(Config{Socket: "/tmp/s", Program: "/usr/bin/tmux"})
	want := []string{"/usr/bin/tmux", "-S", "/tmp/s", "list-sessions", "-F", sessionFormat, ";", "list-panes", "-a", "-F", paneFormat}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("command = %q", got)
	}
	if got := command(Config{}); got[0] != "tmux" || got[1] != "list-sessions" {
		t.Errorf("default command = %q", got)
	}
}

func TestReport(t *testing.T) {
	now := time.Unix(1700001000, 0)
	sessions, _ := parse(line("S", "$0", "work", "2", "1", "1700000000", "1700000600", "/src") +
		line("S", "$1", "idle", "1", "0", "1700000000", "1700000000", "/") +
		line("P", "$0", "0", "editor", "0", "1", "1", "0", "101", "vim") +
		line("P", "$1", "0", "sh", "0", "1", "1", "1", "", "make"))
	r := report(sessions, "default", now)
	got, _ := json.Marshal(r)
	want := `{"status":"ok","message":"2 sessions, 1 attached","metrics":[` +
		`{"name":"tmux.session.windows","labels":{"server":"default","session":"work"},"value":2},` +
		`{"name":"tmux.session.panes","labels":{"server":"default","session":"work"},"value":1},` +
		`{"name":"tmux.session.clients","labels":{"server":"default","session":"work"},"value":1},` +
		`{"name":"tmux.session.idle_seconds","labels":{"server":"default","session":"work"},"value":400},` +
		`{"name":"tmux.session.windows","labels":{"server":"default","session":"idle"},"value":1},` +
		`{"name":"tmux.session.panes","labels":{"server":"default","session":"idle"},"value":1},` +
		`{"name":"tmux.session.clients","labels":{"server":"default","session":"idle"},"value":0},` +
		`{"name":"tmux.session.idle_seconds","labels":{"server":"default","session":"idle"},"value":1000},` +
		`{"name":"tmux.sessions","labels":{"server":"default"},"value":2},` +
		`{"name":"tmux.clients","labels":{"server":"default"},"value":1}],"entities":[` +
		`{"kind":"session","id":"work","name":"work","state":"attached","health":"ok","attrs":{"activity":"2023-11-14T22:23:20Z","clients":1,"created":"2023-11-14T22:13:20Z","panes":[{"active":true,"command":"vim","dead":false,"pane":0,"pid":101,"window":0,"window_name":"editor"}],"path":"/src","session_id":"$0","windows":2}},` +
		`{"kind":"session","id":"idle","name":"idle","state":"detached","health":"warn","attrs":{"activity":"2023-11-14T22:13:20Z","clients":0,"created":"2023-11-14T22:13:20Z","dead_panes":1,"panes":[{"active":true,"command":"make","dead":true,"pane":0,"pid":0,"window":0,"window_name":"sh"}],"path":"/","session_id":"$1","windows":1}}]}`
	if string(got) != want {
		t.Errorf("report:\n got %s\nwant %s", got, want)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}

	empty := report(nil, "/tmp/s", now)
	if empty.Status != sdk.StatusOK || len(empty.Entities) != 0 || len(empty.Metrics) != 2 ||
		empty.Metrics[0].Value != 0 || empty.Metrics[0].Labels["server"] != "/tmp/s" ||
		empty.Message != "no tmux sessions (no server running on /tmp/s)" {
		t.Errorf("empty report = %+v", empty)
	}
}

// fakeHost answers exec with a canned response and records the request.
type fakeHost struct {
	resp string
	req  sdk.ExecRequest
}

func (f *fakeHost) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	if fn != "exec" { // the host function's name in docs/ABI.md
		return []byte(`{"error":"unexpected call"}`), nil
	}
	json.Unmarshal(req, &f.req)
	return []byte(f.resp), nil
}

func (f *fakeHost) Log(sdk.Level, string) {}

func TestCollect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, resp string
		sessions   float64 // -1: an error is expected
		err        string
	}{
		{"no server", `{"exit_code":1,"stderr":"no server running on /tmp/s\n"}`, 0, ""},
		{"sessions", `{"exit_code":0,"stdout":` + jsonString(line("S", "$0", "a", "1", "0", "1", "1", "/")) + `}`, 1, ""},
		{"denied", `{"error":"denied: exec of \"tmux\" is not granted to probe \"tmux\""}`, -1, `tmux: exec: denied: exec of "tmux"`},
		{"tmux fails", `{"exit_code":1,"stderr":"error connecting to /tmp/s (Permission denied)\n"}`, -1, "tmux exited with code 1: error connecting to /tmp/s (Permission denied)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeHost{resp: tc.resp}
			defer sdk.SetTransport(sdk.SetTransport(f))
			r, err := New().Collect(ctx, sdk.Request{Probe: "tmux", Config: map[string]any{"socket": "/tmp/s"}})
			if tc.sessions < 0 {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != sdk.StatusOK || value(r, "tmux.sessions") != tc.sessions {
				t.Errorf("report = %+v", r)
			}
			if f.req.Argv[1] != "-S" || f.req.Argv[2] != "/tmp/s" || f.req.TimeoutMS <= 0 {
				t.Errorf("exec request = %+v", f.req)
			}
		})
	}
	if _, err := New().Collect(ctx, sdk.Request{Probe: "t", Config: map[string]any{"socket": 5}}); err == nil {
		t.Error("a bad config is not an error")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// value returns the first metric named name, or -1.
func value(r sdk.Report, name string) float64 {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	return -1
}

// BenchmarkParseReport parses and reports a server with 50 sessions of 4
// panes: the guest-side cost of a busy server, besides running tmux.
//
//	go test ./plugins/tmux -run '^$' -bench . -benchmem
func BenchmarkParseReport(b *testing.B) {
	var out strings.Builder
	for s := range 50 {
		id := fmt.Sprintf("$%d", s)
		out.WriteString(line("S", id, fmt.Sprintf("session-%d", s), "2", "1", "1700000000", "1700000600", "/home/me/src/project"))
		for p := range 4 {
			out.WriteString(line("P", id, strconv.Itoa(p/2), "editor", strconv.Itoa(p%2), "1", "1", "0", "12345", "vim"))
		}
	}
	text := out.String()
	now := time.Now()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		sessions, _ := parse(text)
		if r := report(sessions, "default", now); len(r.Entities) != 50 {
			b.Fatal(len(r.Entities))
		}
	}
}
