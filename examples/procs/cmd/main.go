// Command procs is the procs probe as a native plugin binary for the agent
// (runtime = "plugin"):
//
//	go build -o bin/plugins/procs ./examples/procs/cmd   # or: make plugins
//
// It is native only: gopsutil's process details need the real /proc and
// system calls (see ../README.md). A WASM build compiles, like any probe's,
// but its collect fails saying so.
package main

import (
	"github.com/barbossa-agent/barbossa/examples/procs"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(procs.New()) }

func main() { sdk.Serve() }
