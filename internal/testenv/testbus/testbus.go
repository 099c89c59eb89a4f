// Package testbus starts a private D-Bus daemon for a test. It is a leaf
// of the test rig, apart from internal/testenv, so that the tests of hostfuncs
// and core/wasmhost, which testenv imports, can use it too.
//
//	addr := testbus.Start(t) // "unix:path=/tmp/.../bus"
package testbus

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv/ci"
)

// Start starts a dbus-daemon of its own with the session bus's policy
// (apt-get install -y dbus) and returns its address; it is stopped when
// the test ends. Without dbus-daemon the test is skipped, or fails under
// CI (CI=true), where a skip would hide a missing install step.
func Start(t testing.TB) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		const why = "dbus-daemon is not installed (apt-get install -y dbus, or sudo scripts/test-deps.sh)"
		ci.Missing(t, why)
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // ready once it prints its address
		t.Fatal(err)
	}
	return addr
}
