//go:build linux

package systemd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// BenchmarkCollect measures one run against a real systemd holding the
// harness' units, the integration test's, and 20 more running services:
// ~165 loaded units of which ~35 running services are detailed.
//
// ms/run is wall time, cpu-ms/run what the run cost this process.
//
//	go test ./plugins/systemd -run '^$' -bench Collect -benchtime 30x -count 5
func BenchmarkCollect(b *testing.B) {
	units := append([]testenv.Unit(nil), extraUnits...)
	for i := range 20 {
		units = append(units, testenv.Unit{
			Name:    fmt.Sprintf("bench-%02d.service", i),
			Enable:  true,
			Content: "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
		})
	}
	s := testenv.StartSystemd(b, units...)
	bus := s.BusAddress()
	cfg := map[string]any{"bus": bus}
	w := newWASMProbe(b)

	report := func(b *testing.B, p sdk.Probe) {
		b.Helper()
		var r sdk.Report
		sdktest.PerRun(b, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			r, err = p.Collect(ctx, sdk.Request{Probe: "systemd", Config: cfg})
			return err
		})
		b.ReportMetric(float64(len(r.Entities)), "units")
	}
	b.Run("wasm", func(b *testing.B) {
		report(b, probe(w, "systemd", grants(bus, true), nil))
	})
	b.Run("wasm-details-none", func(b *testing.B) {
		cfg = map[string]any{"bus": bus, "details": "none"}
		defer func() { cfg = map[string]any{"bus": bus} }()
		report(b, probe(w, "systemd-nodetails", grants(bus, true), nil))
	})
	b.Run("wasm-kept-instance", func(b *testing.B) {
		report(b, w.Probe(wasmhost.ProbeOptions{Name: "systemd-kept", Grants: grants(bus, true), KeepInstance: true}))
	})
	b.Run("native", func(b *testing.B) {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("systemd", grants(bus, true), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer sdk.SetTransport(sdk.SetTransport(c))
		report(b, New())
	})
	// The built-in WASM probe beside the same source natively, run in turn
	// against the same systemd: the ratios make bench quotes.
	b.Run("wasm-vs-native", func(b *testing.B) {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("systemd", grants(bus, true), nil)
		if err != nil {
			b.Fatal(err)
		}
		wasm, native := probe(w, "systemd-side", grants(bus, true), nil), New()
		once := func(p sdk.Probe, native bool) func() error {
			return func() error {
				if native {
					defer sdk.SetTransport(sdk.SetTransport(c))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := p.Collect(ctx, sdk.Request{Probe: "systemd", Config: cfg})
				return err
			}
		}
		sdktest.SideBySide(b, "wasm", once(wasm, false), "native", once(native, true))
	})
	b.Run("native-details-none", func(b *testing.B) {
		h := hostfuncs.New(nil)
		defer h.Close()
		c, err := h.NewCaller("systemd", grants(bus, true), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer sdk.SetTransport(sdk.SetTransport(c))
		cfg = map[string]any{"bus": bus, "details": "none"}
		defer func() { cfg = map[string]any{"bus": bus} }()
		report(b, New())
	})
}
