//go:build !wasip1

package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
)

var errNoHost = errors.New("no host: this probe is not run by Barbossa (tests set one with sdk.SetTransport)")

// noHost is the transport of a native build until Serve (or a test) sets
// one: host calls fail, logs go to stderr (which go-plugin forwards to the
// agent's log).
type noHost struct{}

var defaultTransport Transport = noHost{}

func (noHost) Call(context.Context, string, []byte) ([]byte, error) { return nil, errNoHost }

func (noHost) Log(level Level, msg string) { fmt.Fprintf(os.Stderr, "level=%d msg=%q\n", level, msg) }

// Serve runs the registered probes as a native go-plugin binary.
//
// TODO(issue 5): serve the registered probes over go-plugin (gRPC, handshake
// tied to ABIVersion), using describe() and collect() for the two calls and
// SetTransport with a transport that forwards host calls to the agent.
func Serve() {
	fmt.Fprintln(os.Stderr, "barbossa probe: native plugin serving is not implemented yet; build with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared")
	os.Exit(1)
}
