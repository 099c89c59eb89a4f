//go:build linux

package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

func grants(socket string) hostfuncs.Grants {
	// The default config's read-only grant, on the harness's socket.
	return hostfuncs.Grants{HTTP: []string{"GET unix://" + socket + " /containers/json /containers/*/json /containers/*/stats"}}
}

// newWASMProbe builds the probe's module, as `make wasm` does, and loads
// it into a real WASM host.
func newWASMProbe(t testing.TB) *testenv.ProbeModule {
	return testenv.LoadProbe(t, "./cmd", sdk.Info{Name: "docker", Version: Version})
}

// probe makes a probe of w with the narrowest grants the test gives.
func probe(w *testenv.ProbeModule, name string, g hostfuncs.Grants, cfg map[string]any, keep bool) *wasmhost.Probe {
	return w.Probe(wasmhost.ProbeOptions{Name: name, Grants: g, Config: cfg, KeepInstance: keep})
}

// containers puts a real dockerd's containers into every state the probe
// must tell apart.
func containers(t testing.TB, d *testenv.Docker) {
	d.Container(t, testenv.ContainerSpec{Name: "web", Labels: map[string]string{"app": "web"}})
	d.Container(t, testenv.ContainerSpec{Name: "mem", Cmd: []string{"alloc", "16"}})
	d.Container(t, testenv.ContainerSpec{Name: "job", State: testenv.Exited, ExitCode: 2})
	d.Container(t, testenv.ContainerSpec{Name: "ok-job", State: testenv.Exited})
	d.Container(t, testenv.ContainerSpec{Name: "frozen", State: testenv.Paused})
	d.Container(t, testenv.ContainerSpec{Name: "fresh", State: testenv.Created})
	d.Container(t, testenv.ContainerSpec{Name: "sick", Health: testenv.Unhealthy})
	d.Container(t, testenv.ContainerSpec{Name: "fine", Health: testenv.Healthy})
}

// TestRealDockerThroughWASM runs the built module in the real WASM host
// against a real dockerd (internal/testenv) with containers running, exited
// non-zero and zero, paused, created, unhealthy and healthy.
func TestRealDockerThroughWASM(t *testing.T) {
	d := testenv.StartDocker(t)
	containers(t, d)
	sock := d.Socket()
	w := newWASMProbe(t)
	cfg := map[string]any{"socket": sock}

	t.Run("states", func(t *testing.T) {
		p := probe(w, "docker", grants(sock), cfg, false)
		start := time.Now()
		r := testenv.Collect(t, p, 20*time.Second)
		t.Logf("one run: %s, %q", time.Since(start).Round(time.Millisecond), r.Message)
		if r.Status != sdk.StatusCrit || !strings.Contains(r.Message, "job exited 2") || !strings.Contains(r.Message, "sick unhealthy") {
			t.Errorf("status %s, message %q", r.Status, r.Message)
		}
		for _, tc := range []struct {
			name, state string
			health      sdk.Health
			attrs       map[string]any
		}{
			{"web", "running", sdk.StatusOK, map[string]any{"restart_count": float64(0), "image": testenv.ImageRef}},
			{"mem", "running", sdk.StatusOK, nil},
			{"job", "exited", sdk.StatusCrit, map[string]any{"exit_code": float64(2)}},
			{"ok-job", "exited", sdk.StatusOK, map[string]any{"exit_code": float64(0)}},
			{"frozen", "paused", sdk.StatusOK, nil},
			{"fresh", "created", sdk.StatusOK, nil},
			{"sick", "running", sdk.StatusCrit, map[string]any{"health": "unhealthy"}},
			{"fine", "running", sdk.StatusOK, map[string]any{"health": "healthy", "failing_streak": float64(0)}},
		} {
			e := find(t, r, tc.name)
			if e.State != tc.state || e.Health != tc.health || len(e.ID) != 64 {
				t.Errorf("%s: state %s health %s id %q", tc.name, e.State, e.Health, e.ID)
			}
			for k, v := range tc.attrs {
				if e.Attrs[k] != v {
					t.Errorf("%s: %s = %v, want %v", tc.name, k, e.Attrs[k], v)
				}
			}
			_, hasStats := e.Attrs["memory_bytes"]
			if hasStats != (tc.state == "running") {
				t.Errorf("%s (%s): stats read: %v", tc.name, tc.state, hasStats)
			}
			if _, ok := e.Attrs["cpu_percent"]; ok {
				t.Errorf("%s: cpu_percent from a single reading", tc.name)
			}
		}
		web := find(t, r, "web")
		if labels, _ := web.Attrs["labels"].(map[string]any); labels["app"] != "web" {
			t.Errorf("web labels = %v", web.Attrs["labels"])
		}
		if _, err := time.Parse(time.RFC3339, web.Attrs["started_at"].(string)); err != nil {
			t.Errorf("started_at: %v", err)
		}
		if m := metric(r, "docker.container.memory_bytes", "mem"); m < 16<<20 {
			t.Errorf("mem uses %v bytes, the container touched 16 MiB", m)
		}
		if metric(r, "docker.container.pids", "web") < 1 || metric(r, "docker.container.cpu_seconds_total", "web") <= 0 {
			t.Errorf("web pids/cpu: %v", r.Metrics)
		}
		for state, n := range map[string]float64{"running": 4, "exited": 2, "paused": 1, "created": 1, "dead": 0} {
			if got := metric(r, "docker.containers", state, "state"); got != n {
				t.Errorf("docker.containers{state=%s} = %v, want %v", state, got, n)
			}
		}
	})

	t.Run("cpu percent from the previous run", func(t *testing.T) {
		p := probe(w, "docker-kept", grants(sock), map[string]any{"socket": sock, "patterns": []any{"web", "mem"}}, true)
		testenv.Collect(t, p, 20*time.Second)
		r := testenv.Collect(t, p, 20*time.Second)
		for _, n := range []string{"web", "mem"} {
			if pct, ok := find(t, r, n).Attrs["cpu_percent"].(float64); !ok || pct < 0 || pct > 200 {
				t.Errorf("%s: cpu_percent = %v", n, find(t, r, n).Attrs["cpu_percent"])
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		p := probe(w, "docker-jobs", grants(sock), map[string]any{"socket": sock, "patterns": []any{"*job"}, "exclude": []any{"ok-*"}, "stats": false, "labels": false}, false)
		r := testenv.Collect(t, p, 20*time.Second)
		if len(r.Entities) != 1 || r.Entities[0].Name != "job" {
			t.Errorf("entities = %+v", r.Entities)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		// A run whose stats requests outlive its deadline still ends in
		// time, with what it could read. The stats are held by a proxy
		// until the probe gives up on them, so the cut does not depend on
		// how fast this machine is (dockerd 20.10 answers one-shot stats
		// at its next 1 s tick, and a 900 ms run on a busy machine missed
		// its deadline by a few ms). The deadline is long enough for the
		// quarter the probe keeps for its report to be ample even there.
		const deadline = 3 * time.Second
		stalled := stallStats(t, sock)
		p := probe(w, "docker-hurried", grants(stalled), map[string]any{"socket": stalled}, false)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		r, err := p.Collect(ctx, sdk.Request{})
		took := time.Since(start)
		// An error would be the hard timeout: the guest still running at
		// its deadline.
		if err != nil {
			t.Fatalf("a %s run: %v after %s", deadline, err, took)
		}
		t.Logf("%s run: %s, %q", deadline, took.Round(time.Millisecond), r.Message)
		var cut int
		if i := strings.Index(r.Message, " inspect/stats requests cut by the deadline"); i > 0 {
			fmt.Sscan(r.Message[strings.LastIndex(r.Message[:i], " ")+1:i], &cut)
		}
		// Each of the 4 running containers' stats is cut.
		if len(r.Entities) != 8 || cut < 4 {
			t.Errorf("%d entities, %d requests cut (want 8, at least 4): %q", len(r.Entities), cut, r.Message)
		}
	})

	t.Run("denied", func(t *testing.T) {
		p := probe(w, "docker-denied", grants("/var/run/docker.sock"), cfg, false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := p.Collect(ctx, sdk.Request{})
		if err == nil || !strings.Contains(err.Error(), "denied") || !strings.Contains(err.Error(), `grant http = ["unix://`+sock+`"]`) || p.Denied() != 1 {
			t.Errorf("err = %v, denied %d", err, p.Denied())
		}
	})

	t.Run("not present", func(t *testing.T) {
		gone := filepath.Join(t.TempDir(), "docker.sock")
		p := probe(w, "docker-gone", grants(gone), map[string]any{"socket": gone}, false)
		r := testenv.Collect(t, p, 10*time.Second)
		if r.Status != sdk.StatusOK || r.Message != sdk.NotPresentPrefix+"no Docker on this host (no socket at "+gone+")" || len(r.Entities) != 0 {
			t.Errorf("report %+v", r)
		}
	})

	t.Run("not running", func(t *testing.T) {
		// A socket file nobody listens on: a Docker that stopped, which is
		// no absence.
		dead := filepath.Join(t.TempDir(), "docker.sock")
		l, err := net.Listen("unix", dead)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		p := probe(w, "docker-dead", grants(dead), map[string]any{"socket": dead}, false)
		r := testenv.Collect(t, p, 10*time.Second)
		if r.Status != sdk.StatusUnknown || r.Message != "Docker is not running (nothing listens on "+dead+")" || len(r.Entities) != 0 {
			t.Errorf("report %+v", r)
		}
	})

	// BARBOSSA_CAPTURE=1 re-records testdata/replay.json from this daemon
	// (in-process, through the same host functions); then run the golden
	// test with -update.
	if os.Getenv("BARBOSSA_CAPTURE") == "1" {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("docker", grants(sock), nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := &sdktest.Recorder{Next: c}
		defer sdk.SetTransport(sdk.SetTransport(rec))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := New().Collect(ctx, sdk.Request{Probe: "docker", Config: cfg}); err != nil {
			t.Fatal(err)
		}
		for i := range rec.Calls { // the socket differs per daemon
			rec.Calls[i].Request = []byte(strings.ReplaceAll(string(rec.Calls[i].Request), sock, testSocket))
			rec.Calls[i].Response = []byte(strings.ReplaceAll(string(rec.Calls[i].Response), filepath.Dir(sock), filepath.Dir(testSocket)))
		}
		if err := rec.Save("testdata/replay.json"); err != nil {
			t.Fatal(err)
		}
	}
}

func find(t testing.TB, r sdk.Report, name string) sdk.Entity {
	t.Helper()
	for _, e := range r.Entities {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no container %q in %d", name, len(r.Entities))
	return sdk.Entity{}
}

// stallStats puts a proxy in front of the dockerd on socket: every request
// passes through, except one-shot stats, which are held until the client
// gives up. It returns the proxy's socket.
func stallStats(t *testing.T, socket string) string {
	t.Helper()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}},
	}
	stalled := filepath.Join(t.TempDir(), "stalled.sock")
	l, err := net.Listen("unix", stalled)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stats") {
			<-r.Context().Done()
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return stalled
}
