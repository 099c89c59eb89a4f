//go:build linux

package testenv

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, in  string
		comm      string
		ppid      int
		start     uint64
		wantError bool
	}{
		{
			name:  "plain",
			in:    "1234 (dockerd) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 10 0 98765 1000 100 18446744073709551615",
			comm:  "dockerd",
			ppid:  1,
			start: 98765,
		},
		{
			name:  "comm with spaces and parens",
			in:    "77 (a (b) c) R 42 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0",
			comm:  "a (b) c",
			ppid:  42,
			start: 555,
		},
		{name: "truncated", in: "1 (x) S 0 1", wantError: true},
		{name: "no comm", in: "garbage", wantError: true},
		{name: "bad ppid", in: "1 (x) S zz 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comm, ppid, start, err := parseStat(tt.in)
			if tt.wantError {
				if err == nil {
					t.Fatalf("parseStat(%q) = %q %d %d, want error", tt.in, comm, ppid, start)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if comm != tt.comm || ppid != tt.ppid || start != tt.start {
				t.Errorf("got %q %d %d, want %q %d %d", comm, ppid, start, tt.comm, tt.ppid, tt.start)
			}
		})
	}
}

// mountinfoSample is taken from this sandbox (Debian 12 guest, hybrid
// cgroups), with a path holding a space added.
const mountinfoSample = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
25 22 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
29 25 0:26 / /sys/fs/cgroup/unified rw,relatime shared:5 master:1 - cgroup2 cgroup2 rw
40 22 0:50 / /tmp/barbossa-testenv/s-1/root rw,relatime - overlay overlay rw,lowerdir=/var/cache/x,upperdir=/tmp/u,workdir=/tmp/w
41 22 0:51 / /tmp/with\040space rw - tmpfs tmpfs rw
42 25 0:23 / /mnt/cpu-again rw,relatime - cgroup cgroup rw,cpu
`

func TestParseMountinfo(t *testing.T) {
	ms, err := parseMountinfo(strings.NewReader(mountinfoSample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 9 {
		t.Fatalf("%d entries, want 9", len(ms))
	}
	want := mountEntry{Root: "/", MountPoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2", SuperOpts: "rw"}
	if ms[5] != want {
		t.Errorf("optional fields: got %+v, want %+v", ms[5], want)
	}
	if ms[7].MountPoint != "/tmp/with space" {
		t.Errorf("escaped mount point = %q", ms[7].MountPoint)
	}
	if _, err := parseMountinfo(strings.NewReader("1 2 3:4 / /x rw no-separator here\n")); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestCgroupHierarchies(t *testing.T) {
	ms, err := parseMountinfo(strings.NewReader(mountinfoSample))
	if err != nil {
		t.Fatal(err)
	}
	got := cgroupHierarchies(ms)
	want := []hierarchy{
		{Mount: "/sys/fs/cgroup/cpu", Opts: "cpu"},
		{Mount: "/sys/fs/cgroup/memory", Opts: "memory"},
		{Mount: "/sys/fs/cgroup/systemd", Opts: "name=systemd"},
		{Mount: "/sys/fs/cgroup/unified", V2: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	var tracking []string
	for _, h := range got {
		if h.tracking() {
			tracking = append(tracking, h.Mount)
		}
	}
	// Never the memory or cpu trees: moving a process there would take it
	// out of the sandbox's limits.
	if want := []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"}; !reflect.DeepEqual(tracking, want) {
		t.Errorf("tracking = %v, want %v", tracking, want)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:   "/a b",
		`/tab\011x`: "/tab\tx",
		`/back\134`: `/back\`,
		`/plain`:    "/plain",
		`/short\04`: `/short\04`,
		`/bad\09x`:  `/bad\09x`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, tt := range []struct {
		p, dir string
		want   bool
	}{
		{"/tmp/x", "/tmp/x", true},
		{"/tmp/x/data", "/tmp/x", true},
		{"/tmp/x/data", "/tmp/x/", true},
		{"/tmp/xy", "/tmp/x", false},
		{"/tmp", "/tmp/x", false},
	} {
		if got := within(tt.p, tt.dir); got != tt.want {
			t.Errorf("within(%q, %q) = %v", tt.p, tt.dir, got)
		}
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "false": false, "0": false, "TRUE": true} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestShimSocket(t *testing.T) {
	cl := []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "ns", "-id", "abc", "-address", "/tmp/x/containerd.sock"}
	got := shimSocket(cl)
	if !strings.HasPrefix(got, "/run/containerd/s/") || len(got) != len("/run/containerd/s/")+64 {
		t.Errorf("shimSocket = %q", got)
	}
	if got != shimSocketPath("/tmp/x/containerd.sock", "ns", "abc") {
		t.Error("shimSocket and shimSocketPath disagree")
	}
	if shimSocket([]string{"/usr/bin/containerd", "-address", "x"}) != "" {
		t.Error("a non-shim got a socket")
	}
}

// recordingTB records how missing stopped the test instead of stopping it.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recordingTB) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestMissingFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recordingTB{TB: t}
		missing(r, "dockerd", "apt-get install docker.io")
		if ci == "true" {
			if r.fatal == "" || r.skip != "" {
				t.Errorf("CI=true: fatal %q skip %q, want a failure only", r.fatal, r.skip)
			}
			if !strings.Contains(r.fatal, "apt-get install docker.io") {
				t.Errorf("failure %q does not say how to install", r.fatal)
			}
		} else if r.skip == "" || r.fatal != "" {
			t.Errorf("CI unset: fatal %q skip %q, want a skip only", r.fatal, r.skip)
		}
	}
}

func TestLookTool(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	if _, err := lookTool("sh"); err != nil {
		t.Errorf("sh not found through the fallback dirs: %v", err)
	}
	if _, err := lookTool("barbossa-no-such-tool"); err == nil {
		t.Error("found a tool that does not exist")
	}
	if p := toolPath(); !strings.Contains(p, "/usr/sbin") || !strings.HasPrefix(p, "/nonexistent") {
		t.Errorf("toolPath() = %q: want PATH first, then the sbin dirs", p)
	}
}
