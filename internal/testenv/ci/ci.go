// Package ci says whether tests run under CI, where a component a test
// needs but cannot find is a failure, never a skip: a green run must mean
// the tests really ran. Like heap and testbus it is a leaf of the test rig,
// apart from internal/testenv, so the tests of the packages testenv imports
// (hostfuncs, core/wasmhost) can use it.
package ci

import (
	"os"
	"strings"
	"testing"
)

// On reports whether the tests run under CI (CI=true, as CI systems set it).
func On() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// Missing stops the test because of why (something is not installed or
// not available): a failure under CI, a skip elsewhere.
func Missing(t testing.TB, why string) {
	t.Helper()
	if On() {
		t.Fatal(why + "; CI requires it")
	}
	t.Skip(why + " (under CI=true this fails)")
}
