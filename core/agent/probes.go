package agent

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/barbossa-agent/barbossa/core/config"
)

// PrintProbes writes the probes the agent would load — the [[probe]]
// entries of cfg and the drop-ins of its probes folder — with their
// grants and where each is defined, as a table. It returns the problems
// that would make the agent skip a drop-in, each naming file, line and key.
func PrintProbes(w io.Writer, cfg *config.Config) []error {
	dropIns, errs := DropIns(cfg)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRUNTIME\tSOURCE\tINTERVAL\tTIMEOUT\tFROM\tGRANTS")
	row := func(p config.Probe, from string) {
		name := p.Name
		if p.Disabled {
			name += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Runtime, p.Source,
			p.Interval.String(), p.Timeout.String(), from, grants(p.Allow))
	}
	for _, p := range cfg.Probes {
		row(p, fmt.Sprintf("%s:%d", cfg.File, p.Line))
	}
	for _, p := range dropIns {
		row(p, strings.TrimSuffix(p.Source, ".wasm")+".toml")
	}
	tw.Flush()
	return errs
}

func grants(a config.Allow) string {
	var parts []string
	add := func(kind string, list []string) {
		if len(list) > 0 {
			// As TOML writes them: grants hold spaces and commas.
			quoted := make([]string, len(list))
			for i, g := range list {
				quoted[i] = strconv.Quote(g)
			}
			parts = append(parts, kind+"=["+strings.Join(quoted, ", ")+"]")
		}
	}
	add("exec", a.Exec)
	add("http", a.HTTP)
	add("dbus", a.DBus)
	add("read", a.Read)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
