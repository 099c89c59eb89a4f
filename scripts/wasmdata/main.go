// Command wasmdata merges the data segments of WASM modules in place
// (internal/wasmdata): a Go guest's ~40,000 segments become a few, which
// makes each instance of it cheaper to create and its compiled module
// smaller in the agent's memory. make wasm runs it on every Go guest it
// builds:
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
		if err := merge(file); err != nil {
			fmt.Fprintln(os.Stderr, "wasmdata:", err)
			os.Exit(1)
		}
	}
}

func merge(file string) error {
	in, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, err := wasmdata.Merge(in, wasmdata.DefaultGap)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, out, 0o644)
}
