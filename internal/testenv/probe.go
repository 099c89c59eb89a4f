package testenv

import (
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/sdk"
)

// ProbeModule is a Go probe package built to WASM and loaded into a real
// WASM host, as the agent runs it: the preamble of every WASM probe's
// integration test (LoadProbe), then probes made with grants and a config
// (Probe) and collected (RunProbe).
type ProbeModule struct {
	t      testing.TB
	Host   *wasmhost.Host
	Module *wasmhost.Module
}

// LoadProbe builds the probe package pkg ("./cmd") as `make wasm` does,
// loads it into a new WASM host and checks that it describes exactly one
// probe with want's name and version.
func LoadProbe(t testing.TB, pkg string, want sdk.Info) *ProbeModule {
	t.Helper()
	return LoadModule(t, pkg, BuildWASM(t, pkg), want)
}

// LoadModule is LoadProbe of a module already built (from WAT, say); what
// names it in messages.
func LoadModule(t testing.TB, what string, wasm []byte, want sdk.Info) *ProbeModule {
	t.Helper()
	host, mod := LoadWASM(t, want.Name, wasm)
	if got := mod.Probes(); len(got) != 1 || got[0].Name != want.Name || got[0].Version != want.Version {
		t.Fatalf("%s describes %+v, want one probe %s %s", what, got, want.Name, want.Version)
	}
	return &ProbeModule{t: t, Host: host, Module: mod}
}

// Probe makes a probe of the module with options o (a MaxMemory of 0 is
// 32 MiB, what the probes' tests give); it is closed when the test ends.
func (m *ProbeModule) Probe(o wasmhost.ProbeOptions) *wasmhost.Probe {
	m.t.Helper()
	if o.MaxMemory == 0 {
		o.MaxMemory = 32 << 20
	}
	return NewWASMProbe(m.t, m.Host, m.Module, o)
}

// RunProbe makes a probe with options o and collects it once within
// timeout; an error ends the test. It returns the probe too, for its
// Denied count or another run.
func (m *ProbeModule) RunProbe(o wasmhost.ProbeOptions, timeout time.Duration) (sdk.Report, *wasmhost.Probe) {
	m.t.Helper()
	p := m.Probe(o)
	return Collect(m.t, p, timeout), p
}
