package wat_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
)

// build assembles uptime.wat with wat2wasm, as `make wasm` does.
func build(t *testing.T) []byte {
	t.Helper()
	wat2wasm := testenv.Program(t, "wat2wasm", "wabt")
	out := filepath.Join(t.TempDir(), "uptime.wasm")
	if b, err := exec.Command(wat2wasm, "uptime.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func uptime(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUptimeProbe(t *testing.T) {
	wasm := build(t)
	if len(wasm) > 4096 {
		t.Errorf("the module is %d bytes; a hand-written probe should stay tiny", len(wasm))
	}
	pm := testenv.LoadModule(t, "uptime.wat", wasm, sdk.Info{Name: "uptime", Version: "1.0.0"})

	// One page of memory: a leak in the allocator would run out of it
	// within the thousand runs below.
	p := pm.Probe(wasmhost.ProbeOptions{
		Name:         "uptime",
		Grants:       hostfuncs.Grants{Read: []string{"/proc/uptime"}},
		MaxMemory:    64 << 10,
		KeepInstance: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := uptime(t)
	var r sdk.Report
	var err error
	for i := range 1000 {
		if r, err = p.Collect(ctx, sdk.Request{}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	after := uptime(t)
	if r.Status != sdk.StatusOK || len(r.Metrics) != 1 || r.Metrics[0].Name != "uptime.seconds" {
		t.Fatalf("report = %+v", r)
	}
	if v := r.Metrics[0].Value; v < float64(int(before)) || v > after {
		t.Errorf("uptime.seconds = %v, want between %v and %v", v, before, after)
	}

	// Without the grant the host's error comes back as the run's error.
	denied := pm.Probe(wasmhost.ProbeOptions{Name: "nogrant"})
	_, err = denied.Collect(ctx, sdk.Request{})
	if err == nil || !strings.Contains(err.Error(), `collect failed: denied: read of "/proc/uptime" is not granted to probe "nogrant"`) || denied.Denied() != 1 {
		t.Errorf("without a grant: err = %v, denied = %d", err, denied.Denied())
	}
}
