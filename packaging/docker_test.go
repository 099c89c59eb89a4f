//go:build linux

package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestContainerImage builds the FROM scratch image through the Engine API
// of the harness' private dockerd (no docker CLI, no registry) and runs it
// as packaging/Dockerfile documents: read-only root, no capabilities, the
// host's /proc, the Docker socket and a system D-Bus mounted, history in a
// volume. Its three probes must see the real things: the host's metrics,
// its own container, and the units of a systemd booted for the test.
func TestContainerImage(t *testing.T) {
	b := buildPackages(t, "1.0.0")
	d := testenv.StartDocker(t)
	sd := testenv.StartSystemd(t, busProxy...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	const ref = "barbossa-test/agent:1.0.0"
	buildContext := contextTar(t, b.image)
	var progress bytes.Buffer
	if err := d.API(ctx, http.MethodPost, "/build?rm=1&forcerm=1&t="+url.QueryEscape(ref), bytes.NewReader(buildContext), &progress); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&progress)
	for sc.Scan() {
		var m struct{ Error string }
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			t.Fatalf("build: %s\n%s", m.Error, progress.String())
		}
	}
	var img struct {
		Size   int64
		Config struct {
			User       string
			Entrypoint []string
			Volumes    map[string]any
		}
		RootFS struct{ Layers []string }
	}
	if err := d.API(ctx, http.MethodGet, "/images/"+url.PathEscape(ref)+"/json", nil, &img); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s: %.1f MB, %d layers", ref, time.Since(start).Round(time.Millisecond), float64(img.Size)/1e6, len(img.RootFS.Layers))
	if img.Config.User != "65534:65534" || img.Config.Volumes["/var/lib/barbossa"] == nil || len(img.Config.Entrypoint) == 0 {
		t.Errorf("image config: %+v", img.Config)
	}

	// The packaged config, on a free port: the container shares the host's
	// network, and tests run side by side.
	port := freePort(t)
	cfgText, err := os.ReadFile(filepath.Join(b.image, "barbossa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "barbossa.toml")
	os.WriteFile(cfg, bytes.Replace(cfgText, []byte(`listen = "127.0.0.1:8080"`), []byte(fmt.Sprintf(`listen = "127.0.0.1:%d"`, port)), 1), 0o644)
	var sock syscall.Stat_t
	if err := syscall.Stat(d.Socket(), &sock); err != nil {
		t.Fatal(err)
	}
	bus := filepath.Join(sd.Root(), "var/lib/barbossa-bus/bus")
	spec := map[string]any{
		"Image": ref,
		"HostConfig": map[string]any{
			"ReadonlyRootfs": true,
			"CapDrop":        []string{"ALL"},
			"SecurityOpt":    []string{"no-new-privileges"},
			"NetworkMode":    "host",
			"GroupAdd":       []string{fmt.Sprint(sock.Gid)},
			"Binds": []string{
				"/proc:/host/proc:ro",
				d.Socket() + ":/var/run/docker.sock:ro",
				bus + ":/run/dbus/system_bus_socket:ro",
				"barbossa-data:/var/lib/barbossa",
				cfg + ":/etc/barbossa/barbossa.toml:ro",
			},
		},
	}
	var created struct{ ID string }
	if err := d.API(ctx, http.MethodPost, "/containers/create?name=barbossa", spec, &created); err != nil {
		t.Fatal(err)
	}
	if err := d.API(ctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil); err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		var out bytes.Buffer
		d.API(ctx, http.MethodGet, "/containers/"+created.ID+"/logs?stdout=1&stderr=1&tail=60", nil, &out)
		return out.String()
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string, v any) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if v != nil {
			json.Unmarshal(body, v)
		}
		return resp.StatusCode
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, logs())
			}
			time.Sleep(200 * time.Millisecond) // a container's agent: polled on the real clock
		}
	}
	until("/healthz", func() bool { return get("/healthz", nil) == 200 })

	type probe struct {
		State     string `json:"state"`
		LastError string `json:"last_error"`
		Report    *struct {
			Metrics  []struct{ Name string } `json:"metrics"`
			Entities []struct{ Name, State string }
		} `json:"report"`
	}
	var system, dock, units probe
	until("the three probes' reports", func() bool {
		get("/api/v1/probes/system", &system)
		get("/api/v1/probes/docker", &dock)
		get("/api/v1/probes/systemd", &units)
		return system.Report != nil && dock.Report != nil && units.Report != nil
	})
	if system.State != "ok" || len(system.Report.Metrics) < 20 {
		t.Errorf("system probe: %s %s, %d metrics", system.State, system.LastError, len(system.Report.Metrics))
	}
	seen := map[string]string{}
	for _, e := range dock.Report.Entities {
		seen["docker:"+e.Name] = e.State
	}
	for _, e := range units.Report.Entities {
		seen["systemd:"+e.Name] = e.State
	}
	if dock.State != "ok" || seen["docker:barbossa"] != "running" {
		t.Errorf("docker probe (%s %s) does not see its own container running: %v", dock.State, dock.LastError, seen)
	}
	if units.State != "ok" || seen["systemd:"+testenv.RunningUnit] != "active" || seen["systemd:"+testenv.FailingUnit] != "failed" {
		t.Errorf("systemd probe (%s %s) does not see the machine's units: %v", units.State, units.LastError, seen)
	}

	// Every metric the dashboard and the alert rules name is one this
	// agent exports (the docker probe's CPU figure needs its second run).
	var exposition string
	until("every metric the dashboard names in /metrics", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		exposition = string(b)
		for _, m := range namedMetrics(t) {
			if m != "up" && !strings.Contains(exposition, "# TYPE "+m+" ") {
				return false
			}
		}
		return true
	})
	checkExported(t, exposition)

	// The store is in the volume; the root stays read-only; SIGTERM drains.
	var archive bytes.Buffer
	if err := d.API(ctx, http.MethodGet, "/containers/"+created.ID+"/archive?path=/var/lib/barbossa/store", nil, &archive); err != nil {
		t.Errorf("no store in the volume: %v", err)
	}
	if err := d.API(ctx, http.MethodPost, "/containers/"+created.ID+"/stop?t=20", nil, nil); err != nil {
		t.Fatal(err)
	}
	info := d.Inspect(t, created.ID)
	if info.State.Running || info.State.ExitCode != 0 || !strings.Contains(logs(), "barbossa stopped") {
		t.Errorf("after stop: running %v, exit %d\n%s", info.State.Running, info.State.ExitCode, logs())
	}
}

// busProxy gives the host a path to the booted systemd's system bus. The
// bus socket lives in the container's mount namespace, which Docker cannot
// bind-mount from; this one is on its root file system. The proxy runs as
// nobody, the uid the image runs as, so D-Bus's EXTERNAL authentication
// (the uid the client names against the uid connected) holds.
var busProxy = []testenv.Unit{
	{Name: "barbossa-bus.socket", Enable: true, Content: `[Socket]
ListenStream=/var/lib/barbossa-bus/bus
SocketMode=0666
[Install]
WantedBy=sockets.target
`},
	{Name: "barbossa-bus.service", Content: `[Service]
User=nobody
ExecStart=/lib/systemd/systemd-socket-proxyd /run/dbus/system_bus_socket
`},
}

// contextTar packs a build context folder.
func contextTar(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, path)
		if err := tw.WriteHeader(h); err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatalf("build context: %v", err)
	}
	return buf.Bytes()
}

// freePort is a loopback TCP port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
