// Package builtinwasm carries the module of built-in WASM probes
// (plugins/bundle, built by `make wasm`) inside the agent's binary.
//
//	wasm, err := builtinwasm.Bundle()
//	if err != nil {
//		return err // built-in WASM probes were not compiled in; build with make
//	}
//	mod, err := host.Load(ctx, builtinwasm.Name, wasm)
//
// The module is embedded from the wasm folder, which holds a committed
// README so that a plain `go build` works before `make`; such a binary
// reports ErrNotCompiled when a built-in WASM probe is configured.
package builtinwasm

import (
	"embed"
	"errors"
	"io/fs"
)

// Name is the module's name in logs and messages.
const Name = "builtin"

// file is where `make wasm` writes the bundle, inside the wasm folder.
const file = "wasm/builtin.wasm"

//go:embed all:wasm
var files embed.FS

// ErrNotCompiled is returned by Bundle when the binary was built without
// the module.
var ErrNotCompiled = errors.New("built-in WASM probes were not compiled in; build with make")

// Bundle returns the module's bytes. They are part of the binary's
// read-only data: do not modify them.
func Bundle() ([]byte, error) {
	b, err := files.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(b) == 0 {
		return nil, ErrNotCompiled
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
