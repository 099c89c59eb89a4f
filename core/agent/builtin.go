package agent

import (
	"fmt"
	"strings"

	"github.com/barbossa-agent/barbossa/plugins/system"
	"github.com/barbossa-agent/barbossa/sdk"
)

// builtins are the probes compiled into the agent and run in-process. Only
// what cannot run in WASM belongs here (gopsutil needs the real /proc and
// syscalls); everything else is a sandboxed module.
var builtins = map[string]func() sdk.Probe{
	system.Name: func() sdk.Probe { return system.New() },
}

func builtinProbe(source string) (sdk.Probe, error) {
	name := strings.TrimPrefix(source, "builtin:")
	mk, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("no builtin probe %q: the in-process ones are %s; the sandboxed built-ins (tmux, systemd, docker) need runtime = \"wasm\"", name, strings.Join(builtinNames(), ", "))
	}
	return mk(), nil
}

func builtinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	return names
}
