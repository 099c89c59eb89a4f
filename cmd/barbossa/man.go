package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// manPage writes barbossa(1) in roff from the command tree: the same
// text --help shows, plus the files, signals and exit statuses.
func manPage(root *cobra.Command) string {
	var b strings.Builder
	date, _, _ := strings.Cut(buildDate, "T")
	fmt.Fprintf(&b, ".TH BARBOSSA 1 %q %q \"User Commands\"\n", date, "barbossa "+version)
	b.WriteString(".SH NAME\nbarbossa \\- " + roff(root.Short) + "\n")
	b.WriteString(".SH SYNOPSIS\n.B barbossa\n.I command\n.RI [ flags ]\n")
	b.WriteString(".SH DESCRIPTION\n" + roffText(root.Long))
	b.WriteString(".SH COMMANDS\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.Runnable() && !sub.HasAvailableSubCommands() {
				manCommand(&b, sub)
			}
			walk(sub)
		}
	}
	walk(root)
	b.WriteString(`.SH FILES
.TP
.I /etc/barbossa/barbossa.toml
The config the packages install (a conffile: an upgrade keeps your edits).
Without --config, run reads ./barbossa.toml, else the default embedded in the binary.
.TP
.I /etc/barbossa/probes.d/
Drop-in probes: NAME.wasm with NAME.toml, picked up without a restart. The
folder and every folder above it must belong to root or the agent's user and be
writable by no one else.
.TP
.I /var/lib/barbossa/
The store (history, BadgerDB) and the WASM compilation cache (data_dir).
.SH SIGNALS
.TP
.B SIGHUP
Reload the config file (see run).
.TP
.BR SIGTERM ", " SIGINT
Stop: the portal drains, probes stop, the store flushes.
.SH EXIT STATUS
0 on success, 1 when something is wrong (a bad config, a failed probe test),
2 for a usage mistake.
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1).
The documentation in /usr/share/doc/barbossa and the project's docs folder:
CONFIG.md (every key), DEPLOY.md (packages, a fleet, alerts), API.md, PROBES.md.
`)
	return b.String()
}

func manCommand(b *strings.Builder, c *cobra.Command) {
	b.WriteString(".SS \"" + roff(c.CommandPath()+strings.TrimPrefix(c.Use, c.Name())) + "\"\n")
	text := c.Long
	if text == "" {
		text = strings.ToUpper(c.Short[:1]) + c.Short[1:] + "."
	}
	b.WriteString(roffText(text))
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		b.WriteString(".TP\n")
		if f.Shorthand != "" {
			b.WriteString("\\fB\\-" + f.Shorthand + "\\fR, ")
		}
		b.WriteString("\\fB\\-\\-" + roff(f.Name) + "\\fR")
		if name, _ := pflag.UnquoteUsage(f); name != "" {
			b.WriteString(" \\fI" + roff(name) + "\\fR")
		}
		_, usage := pflag.UnquoteUsage(f)
		b.WriteString("\n" + roff(usage) + "\n")
	})
}

// roffText turns paragraphs (blank-line separated) into roff.
func roffText(s string) string {
	var b strings.Builder
	for i, para := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		lines := strings.Split(para, "\n")
		example := true // every line indented: commands to type, kept as they are
		for _, line := range lines {
			example = example && strings.HasPrefix(line, "  ")
		}
		if example {
			b.WriteString(".RS\n.nf\n")
		}
		for _, line := range lines {
			if example {
				line = strings.TrimPrefix(line, "  ")
			}
			b.WriteString(roffLine(line) + "\n")
		}
		if example {
			b.WriteString(".fi\n.RE\n")
		}
	}
	return b.String()
}

// roffLine escapes one line of text; a line starting with a dot or an
// apostrophe would be read as a request.
func roffLine(s string) string {
	s = roff(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}

// roff escapes backslashes and hyphens (which roff may turn into dashes).
func roff(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}
