// Command docker is the Docker probe as a module of its own:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o docker.wasm ./plugins/docker/cmd
//
// The agent carries it inside its bundle of built-in probes
// (plugins/bundle); this build is for running it alone, as a drop-in or
// with `barbossa probe test`.
package main

import (
	"github.com/barbossa-agent/barbossa/plugins/docker"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() { sdk.Register(docker.New()) }

func main() { sdk.Serve() }
