//go:build !wasip1

// Command procs is the procs probe as a native plugin binary for the agent
// (runtime = "plugin"); it is native only, because gopsutil's process
// details need the real /proc and system calls (see ../README.md):
//
//	go build -o bin/plugins/procs ./examples/procs/cmd   # or: make plugins
package main

import (
	"github.com/barbossa-agent/barbossa/examples/procs"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(procs.New()) }

func main() { sdk.Serve() }
