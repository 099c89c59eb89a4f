// Package tmux is the probe for tmux sessions: for one tmux server (the
// default one of the agent's user, or the one on [probe.config] socket) it
// reports every session — name, id, windows, attached clients, when it was
// created and last active, its path, and its panes with the command running
// in each — and the metrics tmux.sessions and tmux.clients.
//
// It runs as a sandboxed WASM probe (built into the agent's bundle as
// "builtin:tmux") and needs one grant: exec of its one tmux command, which
// the default barbossa.toml grants word for word (its formats pinned: a
// free -F could hold #(command), which tmux runs):
//
//	[[probe]]
//	name = "tmux"
//	runtime = "wasm"
//	source = "builtin:tmux"
//	[probe.allow]
//	exec = ["tmux list-sessions -F S\u001f#{session_id}... ; list-panes -a -F P\u001f...",
//	        "tmux -S * list-sessions -F ... ; list-panes -a -F ..."]
//
// Reading (one tmux invocation, tmux.go) is kept apart from parsing its
// output and building the report (parse.go, report.go), which are pure and
// table-tested.
package tmux

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Version is the probe's version, reported by Info.
const Version = "1.0.0"

// Config is the probe's [probe.config] table.
type Config struct {
	// Socket is the server's socket (tmux -S); empty is the default server
	// of the user the agent runs as ($TMUX_TMPDIR or /tmp, tmux-UID/default).
	Socket string
	// Program is the tmux to run, by name or absolute path; it must be
	// granted as written ([probe.allow] exec). Default "tmux".
	Program string
}

// Probe reports the sessions of one tmux server. It keeps no state between
// runs and is safe for concurrent use.
type Probe struct{}

var _ sdk.Probe = (*Probe)(nil)

// New returns a tmux probe.
func New() *Probe { return &Probe{} }

// Info names the probe "tmux".
func (*Probe) Info() sdk.Info {
	return sdk.Info{Name: "tmux", Version: Version, Description: "tmux sessions, their windows, panes and clients"}
}

// Collect lists the server's sessions and panes with one tmux invocation.
// No server running is a report with zero sessions, not an error; an
// error means tmux could not be asked (not granted, not installed, a
// socket it may not open).
func (*Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	var cfg Config
	s := req.Settings()
	s.String("socket", &cfg.Socket)
	s.String("program", &cfg.Program)
	if err := s.Err(); err != nil {
		return sdk.Report{}, err
	}
	argv := command(cfg)
	res, err := sdk.Exec(ctx, sdk.ExecRequest{Argv: argv})
	if err != nil {
		return sdk.Report{}, fmt.Errorf("tmux: %w", err)
	}
	server := serverLabel(cfg)
	now := time.Now()
	if res.ExitCode != 0 {
		if noServer(res.Stderr) {
			return report(nil, server, now), nil
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(res.Stderr), "\n")
		return sdk.Report{}, fmt.Errorf("tmux exited with code %d: %s", res.ExitCode, msg)
	}
	sessions, errs := parse(res.Stdout)
	for i, e := range errs {
		if i == 3 {
			sdk.Log(sdk.LevelWarn, "more unreadable tmux lines", "count", len(errs)-i)
			break
		}
		sdk.Log(sdk.LevelWarn, "unreadable tmux line", "err", e)
	}
	return report(sessions, server, now), nil
}

// command is the argv of the one tmux invocation: list-sessions and
// list-panes -a chained by a ";" argument (tmux's own separator; there is
// no shell).
func command(cfg Config) []string {
	program := cfg.Program
	if program == "" {
		program = "tmux"
	}
	argv := []string{program}
	if cfg.Socket != "" {
		argv = append(argv, "-S", cfg.Socket)
	}
	return append(argv, "list-sessions", "-F", sessionFormat, ";", "list-panes", "-a", "-F", paneFormat)
}

// serverLabel is the value of the metrics' "server" label.
func serverLabel(cfg Config) string {
	if cfg.Socket == "" {
		return "default"
	}
	return cfg.Socket
}
