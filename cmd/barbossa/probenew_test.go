package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/internal/wasmdata"
	"github.com/barbossa-agent/barbossa/sdk"
)

// offlineEnv is a go command's environment with no network: the SDK comes
// from the project, every other module from the module cache (warm after
// `make test-deps`), and GOFLAGS=-mod=mod lets the go command write go.mod
// and go.sum if they lacked something, which the test then catches.
func offlineEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
}

// TestProbeNew writes a project of each kind with `barbossa probe new` in
// a folder outside this repository, builds it with its own Makefile and no
// network, runs its tests, and runs what it built through `barbossa probe
// test` with the TOML make wrote: it must pass as generated. Building must
// not change go.mod or go.sum (they are complete as written).
func TestProbeNew(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is not installed: %v", err)
	}
	// The project's make runs barbossa (probe optimize): this one, built,
	// not the test binary probe new would name.
	bin := buildBinary(t)
	for _, tc := range []struct {
		kind, flag, built string
		metric            string
	}{
		{"wasm", "", "gowasm.wasm", "gowasm.load"},
		{"native", "--native", "gonative", "gonative.load"},
		{"wat", "--wat", "watprobe.wasm", "watprobe.uptime_seconds"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			if tc.kind == "wat" {
				if _, err := exec.LookPath("wat2wasm"); err != nil {
					if testenv.InCI() {
						t.Fatalf("wat2wasm is not installed; CI requires it: %v", err)
					}
					t.Skipf("wat2wasm is not installed (apt-get install wabt): %v", err)
				}
			}
			name := strings.TrimSuffix(tc.built, ".wasm")
			dir := filepath.Join(t.TempDir(), name)
			args := []string{"probe", "new", name, "--dir", dir}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("probe new: exit %d: %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), "cd "+dir) {
				t.Errorf("probe new says:\n%s", out.String())
			}
			gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			gosum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))

			mk := exec.Command("make", "BARBOSSA="+bin)
			mk.Dir, mk.Env = dir, offlineEnv()
			if b, err := mk.CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			for _, f := range []string{tc.built, name + ".toml"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("make did not build %s: %v", f, err)
				}
			}
			if tc.kind == "wasm" {
				// make merged the ~40,000 data segments Go's linker writes.
				module, _ := os.ReadFile(filepath.Join(dir, tc.built))
				if n, err := wasmdata.Segments(module); err != nil || n > 100 {
					t.Errorf("the module make built has %d data segments (%v): want them merged by barbossa probe optimize", n, err)
				}
			}
			if tc.kind != "wat" {
				g := exec.Command("go", "test", "./...")
				g.Dir, g.Env = dir, offlineEnv()
				if b, err := g.CombinedOutput(); err != nil {
					t.Fatalf("the project's tests: %v\n%s", err, b)
				}
				for _, f := range []struct {
					name string
					was  []byte
				}{{"go.mod", gomod}, {"go.sum", gosum}} {
					now, _ := os.ReadFile(filepath.Join(dir, f.name))
					if !bytes.Equal(now, f.was) {
						t.Errorf("building changed %s: it was incomplete as written (go test ./internal/scaffold -run TestModuleFiles -update); now:\n%s", f.name, now)
					}
				}
			}
			toml, _ := os.ReadFile(filepath.Join(dir, name+".toml"))
			if !strings.Contains(string(toml), "sha256 = \"") {
				t.Errorf("%s.toml is not pinned:\n%s", name, toml)
			}

			out.Reset()
			errOut.Reset()
			if code := run([]string{"probe", "test", filepath.Join(dir, tc.built), "--config", filepath.Join(dir, name+".toml")}, &out, &errOut); code != 0 {
				t.Fatalf("probe test: exit %d: %s", code, errOut.String())
			}
			var r sdk.Report
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("not a report: %v\n%s", err, out.String())
			}
			if len(r.Metrics) == 0 || r.Metrics[0].Name != tc.metric || r.Metrics[0].Value <= 0 {
				t.Errorf("report %+v; want %s", r, tc.metric)
			}
			if !strings.Contains(errOut.String(), "0 denied calls") {
				t.Errorf("probe test: %s", errOut.String())
			}
		})
	}

	// Refusals: a folder that is not empty, a bad name, two kinds.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600)
	for _, args := range [][]string{{"probe", "new", "x", "--dir", dir}, {"probe", "new", "Bad.Name", "--dir", filepath.Join(dir, "y")}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "barbossa: probe new:") {
			t.Errorf("%q: exit %d: %s", args, code, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"probe", "new", "x", "--wat", "--native"}, &out, &errOut); code != 2 {
		t.Errorf("--wat --native: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep")); string(b) != "x" {
		t.Error("probe new touched a folder it refused")
	}
}
