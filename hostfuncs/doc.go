// Package hostfuncs is the host side of the probe ABI: the "barbossa" host
// module given to WASM guests (log, exec, http, dbus, read_file), one file per
// family, each checking the calling probe's grants. Everything is denied
// unless the probe's [probe.allow] table grants it; a denied call is logged,
// counted on the probe's Caller and answered with {"error": "denied: ..."}.
//
// The same JSON entry point (Caller.Call) serves a native plugin's host calls
// and in-process tests, so every runtime checks grants the same way:
//
//	h := hostfuncs.New(logger)
//	defer h.Close()
//	_ = h.Instantiate(ctx, runtime) // the "barbossa" module in a wazero runtime
//	c, err := h.NewCaller("tmux", hostfuncs.Grants{Exec: []string{"tmux"}}, logger)
//	ctx = hostfuncs.WithCaller(ctx, c) // host functions find their probe here
//	... call into the guest with ctx ...
//	c.Denied() // denied calls so far
package hostfuncs
