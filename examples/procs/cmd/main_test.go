package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
)

// Test_main builds the plugin and runs it once as the agent would.
func Test_main(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "procs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r, err := pluginhost.RunOnce(context.Background(), bin, config.Probe{Config: map[string]any{"top": 3, "sort_by": "rss"}})
	if err != nil {
		t.Fatal(err)
	}
	var count float64
	for _, m := range r.Metrics {
		if m.Name == "procs.count" {
			count = m.Value
		}
	}
	if count < 2 || len(r.Entities) != 3 || r.Entities[0].Kind != "process" {
		t.Errorf("report: %d processes, entities %+v", int(count), r.Entities)
	}
	t.Log(r.Message)
}
