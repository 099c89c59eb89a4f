package agent

import (
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/hostfuncs"
)

// pluginCollector runs a native go-plugin probe binary (source is its path,
// relative to the config file). New checks the binary and its pinned sha256
// now, so a config naming a missing or mismatching binary is refused at
// start; the process starts at the first run. The *pluginhost.Probe is an
// io.Closer: when the probe is removed or the agent stops, closing it stops
// the process and its process group. It is also what reports denied host
// calls to the scheduler.
func (a *Agent) pluginCollector(p config.Probe) (scheduler.Collector, error) {
	pr, err := pluginhost.New(pluginhost.Options{
		Name:   p.Name,
		Path:   a.cfg.Path(p.Source),
		SHA256: p.SHA256,
		Kind:   p.Kind,
		Grants: hostfuncs.Grants(p.Allow),
		Config: p.Config,
		// p.Limits are those it runs under: see collector.
		MaxDepth: p.Limits.MaxDepth,
		Logger:   a.log,
	})
	if err != nil {
		return nil, err
	}
	return pr, nil
}
