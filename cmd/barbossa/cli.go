package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// The commands and their help live here, once: --help, the shell
// completions (cobra's) and the man page (man.go) are all made from them.

const configHelp = "the config `FILE` (default: ./barbossa.toml, else the default embedded in the binary)"

// exitCode carries a command's exit status through cobra: 1 for a problem
// found, 2 for a usage mistake.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run parses args, runs the command, and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if len(args) == 0 {
		root.SetOut(stderr)
		_ = root.Usage()
		return 2
	}
	err := root.Execute()
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default: // cobra's own: an unknown command or flag, a missing argument
		path := "barbossa"
		var u usageErr
		if errors.As(err, &u) {
			path = u.path
		}
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
		return 2
	}
}

// usageErr is a flag or argument mistake, and the command it was made on.
type usageErr struct {
	path string
	err  error
}

func (u usageErr) Error() string { return u.err.Error() }

// status turns a command's exit status into what RunE returns.
func status(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "barbossa",
		Short: "a host-monitoring agent",
		Long: `Barbossa watches the host, systemd units, Docker containers and tmux sessions,
keeps their history in an embedded database, and serves it through a web
portal, a JSON API and a Prometheus /metrics endpoint. Probes other than the
host's own metrics are sandboxed WASM modules or native plugins.

One binary and one TOML file: every key of the file is described in
docs/CONFIG.md, and 'barbossa check' says what is wrong with one.`,
		Version:       strings.TrimSuffix(versionText(), "\n"),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErr{c.CommandPath(), err} })
	root.CompletionOptions.DisableDefaultCmd = true // ours, below, says only what we support

	var configPath string
	configFlag := func(c *cobra.Command) {
		c.Flags().StringVarP(&configPath, "config", "c", "", configHelp)
		_ = c.MarkFlagFilename("config", "toml")
	}

	runCmd := &cobra.Command{
		Use:   "run [--config FILE]",
		Short: "run the agent",
		Long: `Runs the agent in the foreground until SIGINT or SIGTERM, then drains the
portal, stops the probes and flushes the store. Logs go to standard error.

SIGHUP reloads the config file: it is checked first, and a bad one is
refused (each problem logged with file, line and key) while the running one
stays. Probes added, removed or changed in the file are started, stopped or
replaced; the others run on untouched, their history and health intact.
Settings read only at start (portal.listen, agent.data_dir, ...) are named
in the log when they change, and apply after a restart. The probes folder
(probes_dir) is watched without any signal.

Under systemd (Type=notify) the agent reports readiness, reloads and
shutdown, and pings the watchdog when WatchdogSec is set.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return status(runAgent(configPath, stderr)) },
	}
	configFlag(runCmd)

	checkCmd := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "validate a config and its drop-ins",
		Long: `Reads the config as 'barbossa run' would and reports, all at once, every
problem that would make run refuse it or skip a drop-in probe, each as
"file:line: key: what is wrong". Exits 0 when there is none.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return status(check(configPath, stdout, stderr)) },
	}
	configFlag(checkCmd)

	probesCmd := &cobra.Command{
		Use:   "probes [--config FILE]",
		Short: "list the configured and drop-in probes and their grants",
		Long: `Lists the probes the agent would run, the [[probe]] entries of the config and
the drop-ins of its probes folder, with their runtime, schedule, where each
is defined and what it is granted. Exits 1 when a drop-in would be skipped.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return status(probes(configPath, stdout, stderr)) },
	}
	configFlag(probesCmd)

	var pid int
	reloadCmd := &cobra.Command{
		Use:   "reload --pid PID [--config FILE]",
		Short: "check the config, then make a running agent reload it (SIGHUP)",
		Long: `Checks the config as 'barbossa check' does and, when it is good, sends SIGHUP
to the agent whose process id is given. The packaged systemd unit runs it as
ExecReload, so 'systemctl reload barbossa' fails, naming the problems, when
the new config is bad; the running agent keeps its config either way.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return status(reload(configPath, pid, stdout, stderr)) },
	}
	configFlag(reloadCmd)
	reloadCmd.Flags().IntVar(&pid, "pid", 0, "the running agent's process id, `PID` ($MAINPID in a systemd unit)")

	var probeConfig, kind string
	probeCmd := &cobra.Command{
		Use:   "probe",
		Short: "work on one probe",
		Args:  withUsage(cobra.NoArgs),
		RunE:  func(c *cobra.Command, _ []string) error { return status(usageError(c, stderr)) },
	}
	probeTestCmd := &cobra.Command{
		Use:   "test FILE [--config probe.toml] [--kind NAME]",
		Short: "run a WASM or plugin probe once and print its report as JSON",
		Long: `Runs one collect of a probe, a WASM module (FILE.wasm) or a native plugin
binary, as the agent would run it, and prints the report as JSON.
probe.toml is the body of its [[probe]] entry (interval, timeout,
max_memory, sha256, [allow], [config]); without it the probe runs with no
grants. The probe's log and denied calls go to standard error.`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			return status(probeTest(args[0], probeConfig, kind, stdout, stderr))
		},
	}
	probeTestCmd.Flags().StringVarP(&probeConfig, "config", "c", "", "the probe's TOML `FILE` (a drop-in's NAME.toml)")
	_ = probeTestCmd.MarkFlagFilename("config", "toml")
	probeTestCmd.Flags().StringVar(&kind, "kind", "", "which probe (`NAME`) of a module that bundles several")
	probeCmd.AddCommand(probeTestCmd)

	var newDir, newModule string
	var newWAT, newNative bool
	probeNewCmd := &cobra.Command{
		Use:   "new NAME [--wat | --native] [--dir DIR] [--module PATH]",
		Short: "write a project for a new probe that builds anywhere",
		Long: `Writes a project for a new probe into DIR (default ./NAME): a Go probe that
builds to a WASM module, or with --native to a native plugin binary, or with
--wat one in WebAssembly text. It builds in any folder without fetching the
SDK: the project carries the SDK's source as this binary was built with it.
'cd NAME && make' builds NAME.wasm (or the plugin NAME) and NAME.toml, the
pair to drop into the probes folder; 'make test' runs its tests and one
collect through 'barbossa probe test'. Its README says the rest.`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if newWAT && newNative {
				return status(usageError(c, stderr))
			}
			return status(probeNew(args[0], newDir, newModule, newWAT, newNative, stdout, stderr))
		},
	}
	probeNewCmd.Flags().BoolVar(&newWAT, "wat", false, "a probe in WebAssembly text, without Go")
	probeNewCmd.Flags().BoolVar(&newNative, "native", false, "a Go probe whose make builds a native plugin binary")
	probeNewCmd.Flags().StringVar(&newDir, "dir", "", "where to write the project, a `DIR` that is absent or empty (default ./NAME)")
	_ = probeNewCmd.MarkFlagDirname("dir")
	probeNewCmd.Flags().StringVar(&newModule, "module", "", "the project's Go module `PATH` (default example.com/NAME)")
	probeCmd.AddCommand(probeNewCmd)

	probeOptimizeCmd := &cobra.Command{
		Use:   "optimize FILE.wasm...",
		Short: "merge a Go-built module's data segments, in place",
		Long: `Rewrites each WASM module with its neighbouring data segments merged: Go's
linker writes a module's initial memory as ~40,000 small segments, which the
agent would otherwise walk at every run's fresh instance and keep decoded in
its memory. The module means exactly the same; it is about ten times cheaper
to instantiate. Run it after 'go build' and before pinning the sha256 (a
'probe new' project's make does).`,
		Args: withUsage(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error { return status(probeOptimize(args, stdout, stderr)) },
	}
	probeCmd.AddCommand(probeOptimizeCmd)

	alertCmd := &cobra.Command{
		Use:   "alert",
		Short: "work on alert rules and their receivers",
		Args:  withUsage(cobra.NoArgs),
		RunE:  func(c *cobra.Command, _ []string) error { return status(usageError(c, stderr)) },
	}
	alertTestCmd := &cobra.Command{
		Use:   "test NAME [--config FILE]",
		Short: "send a test notification through every route of rule NAME (or to receiver NAME)",
		Long: `Sends a test notification at once through every route of the [[alert]] rule
NAME, or to the [[notify]] receiver NAME, and prints each receiver's outcome.
It needs no running agent and leaves its store alone. Exits 1 when a
receiver failed.`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			return status(alertTest(configPath, args[0], stdout, stderr))
		},
	}
	configFlag(alertTestCmd)
	alertCmd.AddCommand(alertTestCmd)

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, build date and Go version",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprint(stdout, versionText())
			return nil
		},
	}

	manCmd := &cobra.Command{
		Use:   "man",
		Short: "print the manual page (roff), as the packages install it",
		Long: `Prints barbossa(1), made from the same text as --help: pipe it to
'man -l -', or save it as barbossa.1.`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := io.WriteString(stdout, manPage(c.Root()))
			return err
		},
	}

	completionCmd := &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print the shell completion script for bash, zsh or fish",
		Long: `Prints a script that completes barbossa's commands, flags and files in the
given shell. The packages install them where each shell looks; by hand:

  barbossa completion bash > /etc/bash_completion.d/barbossa
  barbossa completion zsh > "${fpath[1]}/_barbossa"
  barbossa completion fish > ~/.config/fish/completions/barbossa.fish

or, for the current shell only: source <(barbossa completion bash).`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      withUsage(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		RunE: func(c *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return c.Root().GenBashCompletionV2(stdout, true)
			case "zsh":
				return c.Root().GenZshCompletion(stdout)
			default:
				return c.Root().GenFishCompletion(stdout, true)
			}
		},
	}

	root.AddCommand(runCmd, checkCmd, probesCmd, reloadCmd, probeCmd, alertCmd, versionCmd, completionCmd, manCmd)
	return root
}

// withUsage marks argument mistakes as usage errors of their command.
func withUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return usageErr{c.CommandPath(), err}
		}
		return nil
	}
}

// usageError prints a command's usage to stderr and returns 2.
func usageError(c *cobra.Command, stderr io.Writer) int {
	c.SetOut(stderr)
	_ = c.Usage()
	return 2
}
