package agent

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/barbossa-agent/barbossa/core/config"
)

// PrintProbes writes the configured probes and their grants as a table.
func PrintProbes(w io.Writer, cfg *config.Config) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRUNTIME\tSOURCE\tINTERVAL\tTIMEOUT\tGRANTS")
	for _, p := range cfg.Probes {
		name := p.Name
		if p.Disabled {
			name += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Runtime, p.Source,
			config.FormatDuration(p.Interval.Duration), config.FormatDuration(p.Timeout.Duration), grants(p.Allow))
	}
	tw.Flush()
}

func grants(a config.Allow) string {
	var parts []string
	add := func(kind string, list []string) {
		if len(list) > 0 {
			parts = append(parts, kind+"="+strings.Join(list, ","))
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
