package agent

import (
	"errors"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
)

// wasmCollector runs a sandboxed WASM probe.
func (a *Agent) wasmCollector(p config.Probe) (scheduler.Collector, error) {
	return nil, errors.New("runtime \"wasm\" is not wired in yet")
}
