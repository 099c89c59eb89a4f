// Package wasmhost runs WASM probes (docs/ABI.md) with wazero: compiled
// code cached on disk, real clocks, a memory limit per probe, hard timeouts,
// guest output into the agent's log, and the "barbossa" host module, which
// hands each call to hostfuncs, checked against the probe's grants
// (hostmodule.go is the only place hostfuncs meets wazero). Requests and
// reports cross the boundary through internal/abi, as for native plugins.
//
//	host, err := wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(dataDir, "wasm-cache"), Logger: logger})
//	defer host.Close(ctx)
//	mod, err := host.Load(ctx, "tmux", wasmBytes) // compile once; checks the ABI version
//	p, err := host.NewProbe(mod, wasmhost.ProbeOptions{
//		Name:   "tmux",
//		Grants: hostfuncs.Grants{Exec: []string{"tmux"}},
//	})
//	defer p.Close()
//	report, err := p.Collect(ctx, sdk.Request{}) // ctx's deadline is the hard timeout
//
// A Probe owns at most one instance at a time and never runs it from two
// goroutines. After an error, trap, timeout or exhausted memory the
// instance is thrown away and the next run gets a fresh one; a corrupt
// instance is never reused. See NewProbe for when idle instances are kept.
package wasmhost
