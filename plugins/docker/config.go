package docker

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// DefaultSocket is where the Docker Engine listens on Linux.
const DefaultSocket = "/var/run/docker.sock"

// Config is the probe's [probe.config] table. Every key is optional.
type Config struct {
	// Socket is the Docker Engine's unix socket. It must be granted:
	// [probe.allow] http = ["GET unix:///var/run/docker.sock /containers/json ..."].
	Socket string `json:"socket"`
	// Patterns keeps containers whose name matches one of these globs
	// ("web-*"; path.Match syntax). Empty keeps all.
	Patterns []string `json:"patterns"`
	// Exclude drops containers whose name matches one of these globs.
	Exclude []string `json:"exclude"`
	// Stats reads CPU, memory, network, block I/O and PIDs of running
	// containers (one request each, sent together). Default true.
	Stats bool `json:"stats"`
	// Labels copies each container's labels into its entity. Default true.
	Labels bool `json:"labels"`
}

// DefaultConfig is what a probe with an empty [probe.config] uses.
func DefaultConfig() Config {
	return Config{Socket: DefaultSocket, Stats: true, Labels: true}
}

// decodeConfig reads req.Config over the defaults. Unknown keys and bad
// values are errors naming the key.
func decodeConfig(req sdk.Request) (Config, error) {
	cfg := DefaultConfig()
	if err := req.DecodeStrict(&cfg); err != nil {
		return cfg, err
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("config of probe %q: %w", req.Probe, err)
	}
	return cfg, nil
}

func (c *Config) check() error {
	c.Socket = strings.TrimPrefix(c.Socket, "unix://")
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if !filepath.IsAbs(c.Socket) {
		return fmt.Errorf("socket: %q must be an absolute path", c.Socket)
	}
	for key, globs := range map[string][]string{"patterns": c.Patterns, "exclude": c.Exclude} {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return fmt.Errorf("%s: %q is not a valid glob", key, g)
			}
		}
	}
	return nil
}

// keeps reports whether the filters keep a container named name.
func (c *Config) keeps(name string) bool {
	if len(c.Patterns) > 0 && !matchAny(c.Patterns, name) {
		return false
	}
	return !matchAny(c.Exclude, name)
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
