//go:build linux

package testenv

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReapStale runs a helper test binary that starts dockerd (with a
// running and a paused container) and systemd, then exits without running
// its cleanups, as a test binary killed by go test -timeout does. The next
// reaper must remove everything it left.
func TestReapStale(t *testing.T) {
	if os.Getenv("BARBOSSA_TESTENV_ORPHAN") == "1" {
		t.Skip("this is the helper process")
	}
	t.Parallel()
	requireRoot(t)
	Rootfs(t) // build outside the helper, so its output is only the dirs
	base, err := os.MkdirTemp("/tmp", "bt-reap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOrphan$", "-test.v")
	cmd.Env = append(os.Environ(), "BARBOSSA_TESTENV_ORPHAN=1", "BARBOSSA_TESTENV_DIR="+base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var ins []*instance
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		dir, ok := strings.CutPrefix(line, "ORPHAN ")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, instanceFile))
		if err != nil {
			t.Fatalf("helper left no instance file: %v", err)
		}
		in := &instance{}
		if err := json.Unmarshal(b, in); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	if len(ins) != 2 {
		t.Fatalf("helper reported %d instances, want 2:\n%s", len(ins), out)
	}
	var pids []int
	for _, in := range ins {
		dirs, err := cgroupDirs(in.Cgroup)
		if err != nil {
			t.Fatal(err)
		}
		p := cgroupPids(dirs)
		if len(p) == 0 {
			t.Fatalf("%s instance: nothing running after the helper exited; the test proves nothing", in.Kind)
		}
		pids = append(pids, p...)
	}

	start := time.Now()
	reapStale(base)
	t.Logf("reaped %d processes of a dead test binary in %s", len(pids), time.Since(start).Round(time.Millisecond))
	for _, in := range ins {
		assertNothingLeft(t, in, pids)
	}
}

// TestHelperOrphan is run by TestReapStale in a child process only.
func TestHelperOrphan(t *testing.T) {
	if os.Getenv("BARBOSSA_TESTENV_ORPHAN") != "1" {
		t.Skip("helper for TestReapStale")
	}
	d := StartDocker(t)
	d.Container(t, ContainerSpec{Name: "orphan-run"})
	d.Container(t, ContainerSpec{Name: "orphan-paused", State: Paused})
	s := StartSystemd(t)
	os.Stdout.WriteString("\nORPHAN " + d.Dir() + "\nORPHAN " + s.Dir() + "\n")
	os.Exit(0) // no cleanups, like a test binary that was killed
}
