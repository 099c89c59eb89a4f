// Command bundle is one WASM module carrying every built-in WASM probe, so
// they share one compiled module and one Go runtime instead of one each (a
// compiled Go guest is ~20 MB resident). The agent embeds it
// (core/builtinwasm) and runs `source = "builtin:NAME"` as the probe of
// that kind in it. `make wasm` builds it:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o core/builtinwasm/wasm/builtin.wasm ./plugins/bundle
//
// A new built-in WASM probe is one more Register line here.
package main

import (
	"github.com/barbossa-agent/barbossa/plugins/docker"
	"github.com/barbossa-agent/barbossa/plugins/systemd"
	"github.com/barbossa-agent/barbossa/plugins/tmux"
	"github.com/barbossa-agent/barbossa/sdk"
)

func init() {
	sdk.Register(tmux.New())
	sdk.Register(systemd.New())
	sdk.Register(docker.New())
}

func main() { sdk.Serve() }
