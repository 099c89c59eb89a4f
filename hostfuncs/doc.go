// Package hostfuncs is the host side of the probe ABI's host functions (log,
// exec, http, dbus, read_file), one file per family, each checking the
// calling probe's grants. Everything is denied unless the probe's
// [probe.allow] table grants it; a denied call is logged, counted on the
// probe's Caller and answered with {"error": "denied: ..."}.
//
// It knows no runtime: a Caller takes and returns the JSON documents of
// docs/ABI.md as bytes, and every runtime hands its probes' calls to it, so
// all check grants the same way. core/wasmhost adapts it to wazero (the
// "barbossa" host module), core/pluginhost serves it to native plugins over
// gRPC, and in-process tests use it as the probe's sdk.Transport:
//
//	h := hostfuncs.New(logger)
//	defer h.Close()
//	c, err := h.NewCaller("tmux", hostfuncs.Grants{Exec: []string{"tmux"}}, logger)
//	resp, _ := c.Call(ctx, "exec", []byte(`{"argv": ["tmux", "ls"]}`)) // result or {"error": ...}
//	c.Log(sdk.LevelInfo, "hello")
//	c.Denied() // denied calls so far
package hostfuncs
