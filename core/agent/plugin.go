package agent

import (
	"errors"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
)

// pluginCollector runs a native go-plugin probe binary.
func (a *Agent) pluginCollector(p config.Probe) (scheduler.Collector, error) {
	return nil, errors.New("runtime \"plugin\" is not wired in yet")
}
