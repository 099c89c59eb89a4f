// Command wasmdata merges the data segments of WASM modules in place
// (internal/wasmdata): a Go guest's ~40,000 segments become a few, which
// makes each instance of it cheaper to create and its compiled module
// smaller in the agent's memory. make wasm runs it on every Go guest it
// builds, before there is a barbossa binary to do it (`barbossa probe
// optimize` is the same for probe authors):
//
//	go run ./scripts/wasmdata core/builtinwasm/wasm/builtin.wasm
package main

import (
	"fmt"
	"os"

	"github.com/barbossa-agent/barbossa/internal/wasmdata"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmdata FILE.wasm...")
		os.Exit(2)
	}
	for _, file := range os.Args[1:] {
		if _, _, err := wasmdata.MergeFile(file, wasmdata.DefaultGap); err != nil {
			fmt.Fprintln(os.Stderr, "wasmdata:", err)
			os.Exit(1)
		}
	}
}
