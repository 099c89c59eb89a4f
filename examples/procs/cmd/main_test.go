package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/barbossa-agent/barbossa/core/agent"
)

// Test_main builds the plugin and runs it once as `barbossa probe test`
// does, with a probe file like the README's.
func Test_main(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "procs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	toml := filepath.Join(dir, "procs.toml")
	if err := os.WriteFile(toml, []byte("[config]\ntop = 3\nsort_by = \"rss\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := agent.TryProbe(context.Background(), agent.TryOptions{Path: bin, Config: toml})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	var count float64
	for _, m := range r.Metrics {
		if m.Name == "procs.count" {
			count = m.Value
		}
	}
	if count < 2 || len(r.Entities) != 3 || r.Entities[0].Kind != "process" {
		t.Errorf("report: %d processes, entities %+v", int(count), r.Entities)
	}
	if res.Probe.Runtime != "plugin" || res.Info.Name != "procs" {
		t.Errorf("ran as %s, info %+v; want the plugin runtime and the procs probe", res.Probe.Runtime, res.Info)
	}
	t.Log(r.Message)
}
