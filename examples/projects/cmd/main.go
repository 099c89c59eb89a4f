// Command projects is the projects example probe as a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o projects.wasm ./examples/projects/cmd
//
// init registers the probe (init runs when the host instantiates the
// module; main never does in a WASM build). The same file builds natively
// as a go-plugin binary, where sdk.Serve serves it.
package main

import (
	"github.com/barbossa-agent/barbossa/examples/projects"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(projects.New()) }

func main() { sdk.Serve() }
