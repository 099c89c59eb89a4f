//go:build linux

package testenv

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDocker starts a private dockerd, imports the test image and brings
// containers into every state the docker probe reports, checking each
// through the Engine API over the unix socket with plain net/http.
func TestDocker(t *testing.T) {
	t.Parallel()
	start := time.Now()
	d := StartDocker(t)
	t.Logf("dockerd ready in %s", time.Since(start).Round(time.Millisecond))

	// A client of our own, not d.API: the probe will talk net/http too.
	c := &http.Client{Transport: &http.Transport{DialContext: unixDialer(d.Socket())}}
	get := func(path string, out any) {
		t.Helper()
		resp, err := c.Get("http://docker" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}

	var images []struct{ RepoTags []string }
	d.Image(t)
	get("/images/json", &images)
	if len(images) != 1 || len(images[0].RepoTags) != 1 || images[0].RepoTags[0] != ImageRef {
		t.Fatalf("images = %+v, want exactly %s", images, ImageRef)
	}

	specs := []ContainerSpec{
		{Name: "bt-running", State: Running, Labels: map[string]string{"app": "web"}},
		{Name: "bt-exited", State: Exited, ExitCode: 3},
		{Name: "bt-paused", State: Paused},
		{Name: "bt-created", State: Created},
		{Name: "bt-unhealthy", State: Running, Health: Unhealthy},
		{Name: "bt-healthy", State: Running, Health: Healthy},
	}
	for _, s := range specs {
		d.Container(t, s)
	}
	made := time.Since(start)

	var list []struct {
		Names  []string
		State  string
		Status string
		Labels map[string]string
	}
	get("/containers/json?all=1", &list)
	got := map[string]string{}
	for _, c := range list {
		got[strings.TrimPrefix(c.Names[0], "/")] = c.State + " | " + c.Status
	}
	want := map[string]struct{ state, status string }{
		"bt-running":   {"running", "Up "},
		"bt-exited":    {"exited", "Exited (3)"},
		"bt-paused":    {"paused", "(Paused)"},
		"bt-created":   {"created", "Created"},
		"bt-unhealthy": {"running", "(unhealthy)"},
		"bt-healthy":   {"running", "(healthy)"},
	}
	if len(got) != len(want) {
		t.Errorf("containers = %v, want %d", got, len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("container %s missing from /containers/json", name)
			continue
		}
		state, status, _ := strings.Cut(g, " | ")
		if state != w.state || !strings.Contains(status, w.status) {
			t.Errorf("%s: state %q status %q, want %q containing %q", name, state, status, w.state, w.status)
		}
	}
	if info := d.Inspect(t, "bt-exited"); info.State.ExitCode != 3 {
		t.Errorf("bt-exited exit code = %d, want 3", info.State.ExitCode)
	}
	if info := d.Inspect(t, "bt-running"); info.Config.Labels["app"] != "web" || info.Config.Labels["org.barbossa.test"] != "1" {
		t.Errorf("bt-running labels = %v, want app=web and the image's org.barbossa.test=1", info.Config.Labels)
	}
	t.Logf("6 containers in their states %s after start", made.Round(time.Millisecond))
}

// TestDockerCleanup checks that cleanup leaves no process, mount, cgroup or
// directory behind, with containers in every state (a paused one is the
// hard case: frozen tasks ignore SIGKILL), and that the reaper copes when
// dockerd was SIGKILLed and left its shims and containers running.
func TestDockerCleanup(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		name := "orderly"
		if crash {
			name = "after-dockerd-sigkill"
		}
		t.Run(name, func(t *testing.T) {
			var d *Docker
			var pids []int
			var shimSockets []string
			t.Run("start", func(t *testing.T) {
				d = StartDocker(t)
				d.Container(t, ContainerSpec{Name: "bt-run", State: Running})
				d.Container(t, ContainerSpec{Name: "bt-pause", State: Paused})
				for _, n := range []string{"bt-run", "bt-pause"} {
					pids = append(pids, d.Inspect(t, n).State.Pid)
				}
				pids = append(pids, d.Pid())
				if crash {
					// As if the test binary died: dockerd gone, its
					// containerd dies with it (pdeathsig), shims and
					// containers stay.
					if err := d.cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					<-d.exited
					ps, err := processesMentioning(d.Dir())
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range ps {
						sock := shimSocket(p.Cmdline)
						if sock == "" {
							continue
						}
						// Proves shimSocketPath matches containerd's naming.
						if _, err := os.Stat(sock); err != nil {
							t.Fatalf("shim %d: no socket at the computed path: %v", p.PID, err)
						}
						shimSockets = append(shimSockets, sock)
					}
					if len(shimSockets) != 2 {
						t.Fatalf("%d shims outlived dockerd, want 2 (one per container)", len(shimSockets))
					}
				}
			})
			if d == nil {
				t.Fatal("dockerd did not start")
			}
			assertNothingLeft(t, d.in, pids)
			for _, sock := range shimSockets {
				if _, err := os.Stat(sock); !os.IsNotExist(err) {
					t.Errorf("shim socket %s left (stat: %v)", sock, err)
				}
			}
		})
	}
}

func assertNothingLeft(t *testing.T, in *instance, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if processAlive(pid, 0) {
			t.Errorf("pid %d still alive after cleanup", pid)
		}
	}
	ps, err := processesMentioning(in.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Errorf("process left: %d %s %v", p.PID, p.Comm, p.Cmdline)
	}
	ms, err := mountsUnder(in.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) > 0 {
		t.Errorf("mounts left: %v", ms)
	}
	dirs, err := cgroupDirs(in.Cgroup)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) > 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
	if _, err := os.Stat(in.Dir); !os.IsNotExist(err) {
		t.Errorf("instance dir %s still there (stat: %v)", in.Dir, err)
	}
	if in.Machine != "" {
		if _, err := os.Stat(filepath.Join("/run/systemd/nspawn/propagate", in.Machine)); !os.IsNotExist(err) {
			t.Errorf("nspawn propagate dir of %s left (stat: %v)", in.Machine, err)
		}
	}
}

func unixDialer(path string) func(ctx context.Context, _, _ string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}
