//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestActionsOnRealSystems restarts a unit of a real systemd and stops and
// starts a container of a real dockerd through POST /api/v1/actions, and
// checks what is refused, the audit log and the events.
func TestActionsOnRealSystems(t *testing.T) {
	s := testenv.StartSystemd(t)
	d := testenv.StartDocker(t)
	web := d.Container(t, testenv.ContainerSpec{Name: "web-1"})
	d.Container(t, testenv.ContainerSpec{Name: "db"})

	dir := t.TempDir()
	file := filepath.Join(dir, "barbossa.toml")
	text := fmt.Sprintf(`
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
token = "s3cret"
[portal.actions]
units = ["barbossa-test-*.service"]
containers = ["web-*"]
bus = %q
socket = %q
timeout = "30s"
[store]
flush_interval = "100ms"
`, s.BusAddress(), d.Socket())
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	a, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "the portal to listen", func() bool { return a.Addr() != "" })
	base := "http://" + a.Addr()

	act := func(token, kind, target, action string) (int, map[string]any) {
		t.Helper()
		body := fmt.Sprintf(`{"kind":%q,"target":%q,"action":%q}`, kind, target, action)
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/actions", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	mainPID := func() uint32 {
		conn := s.Connect(t)
		var path dbus.ObjectPath
		if err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
			Call("org.freedesktop.systemd1.Manager.GetUnit", 0, testenv.RunningUnit).Store(&path); err != nil {
			t.Fatal(err)
		}
		v, err := conn.Object("org.freedesktop.systemd1", path).GetProperty("org.freedesktop.systemd1.Service.MainPID")
		if err != nil {
			t.Fatal(err)
		}
		return v.Value().(uint32)
	}

	before := mainPID()
	version := a.Version()
	status, out := act("s3cret", "unit", testenv.RunningUnit, "restart")
	if status != 200 || out["result"] != "done" {
		t.Fatalf("restart: %d %v", status, out)
	}
	if after := mainPID(); after == before || after == 0 {
		t.Errorf("MainPID %d before the restart, %d after", before, after)
	}
	if a.Version() == version {
		t.Error("an action did not move the data version")
	}

	if status, out := act("s3cret", "container", "web-1", "stop"); status != 200 || out["result"] != "done" {
		t.Fatalf("stop web-1: %d %v", status, out)
	}
	if st := d.Inspect(t, web.ID).State; st.Running || st.Status != "exited" {
		t.Errorf("web-1 after stop: %+v", st)
	}
	if status, out := act("s3cret", "container", "web-1", "stop"); status != 200 || out["message"] != "already stopped" {
		t.Errorf("stop again: %d %v", status, out)
	}
	if status, out := act("s3cret", "container", "web-1", "start"); status != 200 || !d.Inspect(t, "web-1").State.Running {
		t.Errorf("start web-1: %d %v", status, out)
	}

	// Refused: not granted, no token, unknown targets.
	if status, out := act("s3cret", "container", "db", "stop"); status != 403 || !strings.Contains(fmt.Sprint(out["error"]), `container "db" is not granted`) {
		t.Errorf("stop db: %d %v", status, out)
	}
	if !d.Inspect(t, "db").State.Running {
		t.Error("a refused stop stopped db")
	}
	if status, _ := act("", "unit", testenv.RunningUnit, "stop"); status != 401 {
		t.Errorf("no token: %d", status)
	}
	if status, out := act("s3cret", "unit", "ssh.service", "stop"); status != 403 {
		t.Errorf("ungranted unit: %d %v", status, out)
	}
	if status, out := act("s3cret", "unit", "barbossa-test-nope.service", "start"); status != 404 {
		t.Errorf("missing unit: %d %v", status, out)
	}
	if status, out := act("s3cret", "container", "web-9", "start"); status != 404 {
		t.Errorf("missing container: %d %v", status, out)
	}

	// Audited: in the log with the remote address, and as events.
	log := logs.String()
	for _, want := range []string{
		"level=INFO msg=action component=portal remote=127.0.0.1:", "target=" + testenv.RunningUnit + " action=restart result=done status=200",
		"level=WARN msg=\"action refused\" component=portal remote=127.0.0.1:", `reason="container \"db\" is not granted`,
		"level=WARN msg=action component=portal remote=127.0.0.1:", "target=web-9 action=start result=\"\" status=404",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	var events struct{ Events []store.Event }
	getJSONAuth(t, base+"/api/v1/events", "s3cret", &events)
	var seen []string
	for _, e := range events.Events {
		if e.Probe == actionsProbe {
			seen = append(seen, e.Kind+" "+e.Name+" "+e.To+" "+string(e.Health))
			if !strings.Contains(e.Message, "requested by 127.0.0.1:") {
				t.Errorf("event message %q", e.Message)
			}
		}
	}
	want := []string{ // newest first
		"container web-9 start crit",
		"unit barbossa-test-nope.service start crit",
		"container web-1 start ok",
		"container web-1 stop ok",
		"container web-1 stop ok",
		"unit " + testenv.RunningUnit + " restart ok",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("action events:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func getJSONAuth(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
