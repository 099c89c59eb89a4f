// Package pluginhost runs native probes: binaries built from probe source
// with sdk.Serve, served over hashicorp/go-plugin (gRPC), one process per
// probe, supervised.
//
//	p, err := pluginhost.New(pluginhost.Options{
//		Name:   "procs",
//		Path:   "bin/plugins/procs",
//		SHA256: "9f86d0...", // optional: refuse any other binary
//		Grants: hostfuncs.Grants{Read: []string{"/proc"}},
//	})
//	if err != nil { ... }
//	defer p.Close() // kills the process; none is left behind
//	report, err := p.Collect(ctx, sdk.Request{Probe: "procs"})
//
// The process starts at the first Collect and is kept between runs. The
// rules:
//
//   - The handshake is go-plugin's: the magic cookie and protocol version
//     of abi.Handshake (internal/abi). A binary whose sha256 differs
//     from Options.SHA256 is refused, by New and again at every start (go-plugin's
//     SecureConfig), with an error naming the probe and both sums.
//   - A run that outlives its context's deadline is answered at the deadline;
//     the process, and its process group, is then killed with SIGKILL and
//     reaped before Collect returns. The next run starts a new one.
//   - A process that exits during a run fails that run, with its exit status
//     and the first line of a panic; one that exits between runs is noticed by
//     the next run. Either way the next run restarts it, at once after one
//     failure, then after 1s, 2s, 4s ... up to a minute of consecutive
//     failures (a run within that wait fails at once, saying when).
//   - Close stops the process (gracefully, then SIGKILL after 2s) and its
//     process group. Plugins get Pdeathsig SIGKILL, so an agent that dies
//     without closing takes them along, and sdk.Serve exits when its parent
//     changes. KillAll stops every plugin of the process.
//   - The plugin's stdout and stderr, before and after the handshake, become
//     log records with the probe's name (at most 200 lines a minute). A plugin
//     that prints to stdout before its handshake line fails to start with an
//     error that quotes the line (sdk.Serve already sends stdout written from
//     probe packages' init functions to stderr).
//   - Collect answers are decoded by abi.DecodeReport, the same strict
//     decoder as for WASM probes: a report a WASM probe would be refused for
//     is refused here too, with the same error.
//   - Host calls the plugin makes through the SDK (sdk.Exec, sdk.HTTP,
//     sdk.DBus, sdk.ReadFile, sdk.Log) come back over go-plugin's GRPCBroker
//     and are served by hostfuncs with the probe's grants, as for a WASM
//     probe. The grants are a convenience, not a sandbox: the plugin is a
//     native process with the agent's rights.
package pluginhost
