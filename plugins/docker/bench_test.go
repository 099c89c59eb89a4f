//go:build linux

package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// BenchmarkCollect measures one run against a real dockerd with 20
// containers: the eight of the integration test and 12 more running.
// ms/run is wall time (on dockerd 20.10 dominated by its 1 s stats tick);
// cpu-ms/run is what the run cost this process.
//
//	go test ./plugins/docker -run '^$' -bench Collect -benchtime 20x -count 5
func BenchmarkCollect(b *testing.B) {
	d := testenv.StartDocker(b)
	containers(b, d)
	for i := range 12 {
		d.Container(b, testenv.ContainerSpec{Name: fmt.Sprintf("bench-%02d", i)})
	}
	sock := d.Socket()
	w := newWASMProbe(b)

	run := func(b *testing.B, p sdk.Probe, cfg map[string]any) {
		sdktest.PerRun(b, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := p.Collect(ctx, sdk.Request{Probe: "docker", Config: cfg})
			if err == nil && (r.Status == sdk.StatusUnknown || len(r.Entities) != 20) {
				err = fmt.Errorf("%s: %d containers", r.Message, len(r.Entities))
			}
			return err
		})
	}
	full := map[string]any{"socket": sock}
	noStats := map[string]any{"socket": sock, "stats": false}
	b.Run("wasm", func(b *testing.B) { run(b, probe(w, "docker", grants(sock), nil, false), full) })
	b.Run("wasm-kept-instance", func(b *testing.B) { run(b, probe(w, "docker-kept", grants(sock), nil, true), full) })
	b.Run("wasm-no-stats", func(b *testing.B) { run(b, probe(w, "docker-nostats", grants(sock), nil, false), noStats) })
	b.Run("native", func(b *testing.B) {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("docker", grants(sock), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer sdk.SetTransport(sdk.SetTransport(c))
		run(b, New(), full)
	})
	// The built-in WASM probe beside the same source natively, in turn
	// against the same dockerd: the ratios make bench quotes.
	b.Run("wasm-vs-native", func(b *testing.B) {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("docker", grants(sock), nil)
		if err != nil {
			b.Fatal(err)
		}
		wasm, native := probe(w, "docker-side", grants(sock), nil, false), New()
		once := func(p sdk.Probe, native bool) func() error {
			return func() error {
				if native {
					defer sdk.SetTransport(sdk.SetTransport(c))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				r, err := p.Collect(ctx, sdk.Request{Probe: "docker", Config: full})
				if err == nil && len(r.Entities) != 20 {
					err = fmt.Errorf("%s: %d containers", r.Message, len(r.Entities))
				}
				return err
			}
		}
		sdktest.SideBySide(b, "wasm", once(wasm, false), "native", once(native, true))
	})
}
