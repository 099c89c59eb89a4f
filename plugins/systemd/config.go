package systemd

import (
	"fmt"
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
	Bus string
	// Types keeps units of these types only ("service", "timer", ...: the
	// suffix of the unit name). Empty keeps every type.
	Types []string
	// NameFilter keeps units whose name matches one of patterns
	// ("nginx*", "app-*.service"; path.Match syntax; empty keeps all) and
	// drops those matching one of exclude.
	sdk.NameFilter
	// All reports every unit systemd lists. By default a unit whose file
	// was not found or which is masked is left out (such units are
	// references, not things that run), unless it is failed.
	All bool
	// Details says which services get their main PID, memory, CPU, tasks,
	// restarts and state-change time (one D-Bus property read each):
	// "active" (default: every service that is not inactive), "all" or
	// "none" (then only the ListUnits grant is needed).
	Details string
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
	s := req.Settings()
	s.String("bus", &cfg.Bus)
	s.Strings("types", &cfg.Types)
	cfg.NameFilter.Read(s)
	s.Bool("all", &cfg.All)
	s.String("details", &cfg.Details)
	err := s.Check(cfg.check) // cfg.check may fill in defaults: read cfg after it
	return cfg, err
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
	return c.NameFilter.Check()
}

// keeps reports whether the filters keep unit u.
func (c *Config) keeps(u Unit) bool {
	if !c.All && (u.LoadState == "not-found" || u.LoadState == "masked") && u.ActiveState != "failed" {
		return false
	}
	if len(c.Types) > 0 && !slices.Contains(c.Types, u.Type()) {
		return false
	}
	return c.NameFilter.Keeps(u.Name)
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
