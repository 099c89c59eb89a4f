//go:build !wasip1

package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

var errNoHost = errors.New("no host: this probe is not run by Barbossa (tests set one with sdk.SetTransport)")

// noHost is the transport of a native build until Serve (or a test) sets
// one: host calls fail, logs go to stderr (which go-plugin forwards to the
// agent's log).
type noHost struct{}

var defaultTransport Transport = noHost{}

func (noHost) Call(context.Context, string, []byte) ([]byte, error) { return nil, errNoHost }

func (noHost) Log(level Level, msg string) { fmt.Fprintf(os.Stderr, "level=%d msg=%q\n", level, msg) }

// underAgent is set when the agent started this process (go-plugin's magic
// cookie is in the environment).
var underAgent = os.Getenv(abi.CookieKey) == abi.CookieValue

// handshakeStdout is the real stdout, kept for go-plugin's handshake line.
// Until Serve writes it, os.Stdout is stderr: go-plugin reads the first line
// of stdout as its handshake, so a probe package printing from init would
// otherwise break the plugin. Packages initialised before this one (those
// that do not import sdk) and writes to file descriptor 1 are not covered;
// the agent reports those as a failed handshake quoting the line.
var handshakeStdout *os.File

// agentPID is the parent at start; Serve exits when it changes (the agent
// died without stopping the plugin).
var agentPID = os.Getppid()

func init() {
	if underAgent {
		handshakeStdout, os.Stdout = os.Stdout, os.Stderr
	}
}

// Serve runs the registered probes as a native plugin of the Barbossa agent:
// a hashicorp/go-plugin server over gRPC (docs/PLUGINS.md). It returns when
// the agent stops the plugin. Run any other way, it explains itself and
// exits with status 1.
//
//	func init() { sdk.Register(procs.New()) }
//	func main() { sdk.Serve() }
func Serve() {
	if !underAgent {
		fmt.Fprintf(os.Stderr, "%s is a Barbossa probe plugin: the agent starts it.\n"+
			"Try it:      barbossa probe test %s\n"+
			"Schedule it: [[probe]] runtime = \"plugin\" source = %q in barbossa.toml (docs/PLUGINS.md)\n",
			filepath.Base(os.Args[0]), os.Args[0], os.Args[0])
		os.Exit(1)
	}
	if len(registered()) == 0 {
		fmt.Fprintln(os.Stderr, "barbossa probe: no probe registered: call sdk.Register from init")
		os.Exit(1)
	}
	os.Stdout = handshakeStdout
	go exitWithAgent(agentPID, time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: abi.Handshake,
		Plugins:         plugin.PluginSet{abi.PluginName: grpcPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
		// go-plugin's own messages, as JSON lines on stderr, which the
		// agent logs at their level; below warn they are noise.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "go-plugin",
			Level:      hclog.Warn,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	})
}

// exitWithAgent ends the plugin when its parent is gone. The agent also asks
// Linux to kill its plugins when it dies (Pdeathsig); this covers the rest,
// since go-plugin itself leaves an orphaned plugin running.
func exitWithAgent(pid int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != pid {
			fmt.Fprintln(os.Stderr, "barbossa probe: the agent is gone; exiting")
			os.Exit(1)
		}
	}
}
