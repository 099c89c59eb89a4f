package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
)

// InCI reports whether the tests run under CI (CI=true, as CI systems set it).
// Under CI a component the harness needs but cannot find is a failure, never a
// skip: a green run must mean the integration tests really ran.
func InCI() bool { return ci.On() }

// missing stops the test because a component is not there: a skip on a
// developer's machine, a failure under CI. install says how to get it.
func missing(t testing.TB, what, install string) {
	t.Helper()
	if InCI() {
		t.Fatalf("testenv: %s is missing; CI requires it (install: %s)", what, install)
		return
	}
	t.Skipf("testenv: %s is missing, skipping (install: %s; under CI=true this fails)", what, install)
}

// installHint is the one command that installs everything the harness uses.
const installHint = "sudo scripts/test-deps.sh"

// sbinDirs are where Debian puts daemons and admin tools (dockerd, runc,
// debootstrap, chroot). A CI or sudo environment may lack them in PATH.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"}

// toolPath returns PATH with the sbin directories appended, for the
// harness's children (dockerd looks up containerd and runc, debootstrap
// runs chroot).
func toolPath() string {
	p := os.Getenv("PATH")
	have := map[string]bool{}
	for _, d := range filepath.SplitList(p) {
		have[d] = true
	}
	for _, d := range sbinDirs {
		if !have[d] {
			if p != "" {
				p += string(filepath.ListSeparator)
			}
			p += d
		}
	}
	return p
}

// lookTool finds a program in PATH or the sbin directories.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %v", name, sbinDirs)
}

// childEnv is the environment for the harness's children: ours, with the
// sbin directories in PATH, plus extra.
func childEnv(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+len(extra)+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+toolPath())
	return append(env, extra...)
}

// Program finds a program the test runs (in PATH or the sbin directories),
// or stops the test: a skip on a developer's machine, a failure under CI.
// pkg is the Debian package that has it.
func Program(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := lookTool(name)
	if err != nil {
		missing(t, name+" (Debian package "+pkg+")", installHint+" or apt-get install "+pkg)
	}
	return p
}
