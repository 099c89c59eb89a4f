package systemd

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Config is the probe's [probe.config] table. Every key is optional.
type Config struct {
	// Bus is the D-Bus to ask: "system" (the default; the agent honours
	// DBUS_SYSTEM_BUS_ADDRESS), or an address such as
	// "unix:path=/run/dbus/system_bus_socket". A bus other than system
	// must be named in the probe's dbus grants.
	Bus string `json:"bus"`
	// Types keeps units of these types only ("service", "timer", ...: the
	// suffix of the unit name). Empty keeps every type.
	Types []string `json:"types"`
	// Patterns keeps units whose name matches one of these globs
	// ("nginx*", "app-*.service"; path.Match syntax). Empty keeps all.
	Patterns []string `json:"patterns"`
	// Exclude drops units whose name matches one of these globs.
	Exclude []string `json:"exclude"`
	// All reports every unit systemd lists. By default a unit whose file
	// was not found or which is masked is left out (such units are
	// references, not things that run), unless it is failed.
	All bool `json:"all"`
	// Details says which services get their main PID, memory, CPU, tasks,
	// restarts and state-change time (one D-Bus property read each):
	// "active" (default: every service that is not inactive), "all" or
	// "none" (then only the ListUnits grant is needed).
	Details string `json:"details"`
}

// Details values.
const (
	DetailsActive = "active"
	DetailsAll    = "all"
	DetailsNone   = "none"
)

// unitTypes are the unit types systemd knows (man systemd.unit).
var unitTypes = []string{"service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"}

// DefaultConfig is what a probe with an empty [probe.config] uses.
func DefaultConfig() Config {
	return Config{Bus: "system", Details: DetailsActive}
}

// decodeConfig reads req.Config over the defaults. Unknown keys and bad
// values are errors naming the key, so a typo never silently widens or
// narrows what is reported.
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
	if c.Bus == "" {
		c.Bus = "system"
	}
	if c.Details == "" {
		c.Details = DetailsActive
	}
	switch c.Details {
	case DetailsActive, DetailsAll, DetailsNone:
	default:
		return fmt.Errorf("details: %q is not one of active, all, none", c.Details)
	}
	for _, t := range c.Types {
		if !slices.Contains(unitTypes, strings.TrimPrefix(t, ".")) {
			return fmt.Errorf("types: %q is not a unit type (%s)", t, strings.Join(unitTypes, ", "))
		}
	}
	for i, t := range c.Types {
		c.Types[i] = strings.TrimPrefix(t, ".")
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

// keeps reports whether the filters keep unit u.
func (c *Config) keeps(u Unit) bool {
	if !c.All && (u.LoadState == "not-found" || u.LoadState == "masked") && u.ActiveState != "failed" {
		return false
	}
	if len(c.Types) > 0 && !slices.Contains(c.Types, u.Type()) {
		return false
	}
	if len(c.Patterns) > 0 && !matchAny(c.Patterns, u.Name) {
		return false
	}
	return !matchAny(c.Exclude, u.Name)
}

// wantsDetails reports whether u's properties are read.
func (c *Config) wantsDetails(u Unit) bool {
	if u.Type() != "service" {
		return false
	}
	switch c.Details {
	case DetailsAll:
		return true
	case DetailsActive:
		return u.ActiveState != "inactive"
	}
	return false
}

func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
