// Command dirwatch is the dirwatch probe as Barbossa runs it: built for
// wasip1 into dirwatch.wasm, a sandboxed module, or natively into a
// plugin binary; the source is the same (make wasm, make plugins).
package main

import (
	"github.com/barbossa-agent/barbossa/examples/dirwatch"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(dirwatch.New()) }

func main() { sdk.Serve() }
