// Package abi is the wire contract between the agent and its probes, owned
// once: the ABI version, the names of the WASM exports and host functions,
// the envelopes that carry requests, answers and errors, the one strict
// report decoder, and the native plugin (gRPC) protocol. docs/ABI.md and
// docs/PLUGINS.md describe the same contract for authors in any language;
// docs/plugin.proto publishes the plugin services.
//
// Both sides use it: sdk (the guest, or plugin, side) and core/wasmhost,
// core/pluginhost and hostfuncs (the agent's side). So a WASM probe and a
// native plugin built from the same source are held to the same rules:
//
//	in, err := abi.EncodeCollect(ctx, abi.CollectRequest{Probe: "tmux", Config: cfg})
//	... pass in to the guest's barbossa_collect, or the plugin's Collect ...
//	var report sdk.Report
//	err = abi.DecodeReport(out, maxDepth, &report) // strict: unknown keys, trailing data,
//	                                               // deep nesting, oversize all refused
//
// The payload types a probe author sees (sdk.Report, sdk.Request, sdk.Info,
// the host calls' requests) live in sdk; this package handles them through
// type parameters and interfaces, since sdk imports it and not the reverse.
package abi
