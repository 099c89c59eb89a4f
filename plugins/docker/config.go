package docker

import (
	"fmt"
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
	Socket string
	// NameFilter keeps containers whose name matches one of patterns
	// ("web-*"; path.Match syntax; empty keeps all) and drops those
	// matching one of exclude.
	sdk.NameFilter
	// Stats reads CPU, memory, network, block I/O and PIDs of running
	// containers (one request each, sent together). Default true.
	Stats bool
	// Labels copies each container's labels into its entity. Default true.
	Labels bool
}

// DefaultConfig is what a probe with an empty [probe.config] uses.
func DefaultConfig() Config {
	return Config{Socket: DefaultSocket, Stats: true, Labels: true}
}

// decodeConfig reads req.Config over the defaults. Unknown keys and bad
// values are errors naming the key.
func decodeConfig(req sdk.Request) (Config, error) {
	cfg := DefaultConfig()
	s := req.Settings()
	s.String("socket", &cfg.Socket)
	cfg.NameFilter.Read(s)
	s.Bool("stats", &cfg.Stats)
	s.Bool("labels", &cfg.Labels)
	err := s.Check(cfg.check) // cfg.check may fill in defaults: read cfg after it
	return cfg, err
}

func (c *Config) check() error {
	c.Socket = strings.TrimPrefix(c.Socket, "unix://")
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if !filepath.IsAbs(c.Socket) {
		return fmt.Errorf("socket: %q must be an absolute path", c.Socket)
	}
	return c.NameFilter.Check()
}

// keeps reports whether the filters keep a container named name.
func (c *Config) keeps(name string) bool {
	return c.NameFilter.Keeps(name)
}
