// Command systemd is the systemd probe as a module of its own:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o systemd.wasm ./plugins/systemd/cmd
//
// The agent carries it inside its bundle of built-in probes
// (plugins/bundle); this build is for running it alone, as a drop-in or
// with `barbossa probe test`.
package main

import (
	"github.com/barbossa-agent/barbossa/plugins/systemd"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(systemd.New()) }

func main() { sdk.Serve() }
