// Package testenv starts real systems for integration tests: a private Docker
// Engine (Debian's dockerd), a real systemd booted in systemd-nspawn, a real
// Prometheus, and a headless Chromium (StartChromium) for the dashboard.
//
// It is test support only: import it from _test.go files. Every process,
// mount and cgroup it creates is removed by a t.Cleanup it registers, and
// leftovers of a test binary that died before its cleanups ran (a panic, a
// go test -timeout) are reaped by the next Start* call.
//
//	func TestContainers(t *testing.T) {
//		d := testenv.StartDocker(t)
//		c := d.Container(t, testenv.ContainerSpec{Name: "web", State: testenv.Exited, ExitCode: 3})
//		// point the code under test at d.Socket() and assert on c.ID ...
//	}
//
//	func TestUnits(t *testing.T) {
//		s := testenv.StartSystemd(t)
//		conn, err := dbus.Connect(s.BusAddress())
//		// testenv.RunningUnit is active, testenv.FailingUnit is failed ...
//	}
//
// For a probe's integration test it also builds a Go probe into WASM and runs
// it in the real WASM host:
//
//	m := testenv.LoadProbe(t, "./cmd", sdk.Info{Name: "docker", Version: docker.Version})
//	report, p := m.RunProbe(wasmhost.ProbeOptions{Name: "docker", Grants: g}, 20*time.Second)
//
// (LoadProbe checks the module describes that one probe; Probe makes more
// probes of it; BuildWASM, LoadWASM, NewWASMProbe and Collect are the steps.)
//
// ProcState and Children tell a test of code that starts processes (plugin
// probes) whether any are left behind.
//
// A missing component (not root, dockerd or systemd-nspawn not installed)
// skips the test with the command that installs it, except under CI (CI=true)
// where it fails: CI must never pass by skipping. scripts/test-deps.sh
// installs everything. README.md records what works in this sandbox and why.
package testenv
