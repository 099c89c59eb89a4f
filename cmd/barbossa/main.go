// Command barbossa is the host-monitoring agent: `barbossa run` starts it,
// `barbossa check` validates a config, `barbossa probes` lists what would run,
// `barbossa probe test` runs a WASM or plugin probe once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/barbossa-agent/barbossa"
	"github.com/barbossa-agent/barbossa/core/agent"
	"github.com/barbossa-agent/barbossa/core/config"
)

// Set by the linker (-ldflags "-X main.version=...").
var version = "dev"

const usage = `barbossa: a host-monitoring agent

usage:
  barbossa run     [--config FILE]   run the agent (default: ./barbossa.toml, else the embedded default)
  barbossa check   [--config FILE]   validate a config and its drop-ins; exit 0, or 1 naming file, line and key
  barbossa probes  [--config FILE]   list the configured and drop-in probes and their grants
  barbossa probe test FILE    [--config probe.toml]
                                     run a WASM probe once and print its report as JSON
  barbossa alert test NAME [--config FILE]
                                     send a test notification through every route of
                                     rule NAME (or to receiver NAME); exit 1 if one failed
  barbossa version                   print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "probe" {
		return probeCmd(args, stdout, stderr)
	}
	if cmd == "alert" {
		if len(args) < 2 || args[0] != "test" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		fs := flag.NewFlagSet("alert test", flag.ContinueOnError)
		fs.SetOutput(stderr)
		configPath := fs.String("config", "", "config file")
		name, rest := args[1], args[2:]
		if err := fs.Parse(rest); err != nil || fs.NArg() > 0 {
			return 2
		}
		return alertTest(*configPath, name, stdout, stderr)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "barbossa %s (WASM ABI %d)\n", version, agent.ABIVersion)
		return 0
	case "run", "check", "probes":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "barbossa: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if cmd == "check" {
		return check(*configPath, stdout, stderr)
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	switch cmd {
	case "probes":
		if errs := agent.PrintProbes(stdout, cfg); len(errs) > 0 {
			fmt.Fprintf(stderr, "barbossa: skipped: %v\n", errors.Join(errs...))
			return 1
		}
		return 0
	}
	logger, err := agent.NewLogger(stderr, cfg.Agent.LogLevel, cfg.Agent.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	if addr := os.Getenv(pprofEnv); addr != "" {
		if err := servePprof(addr, logger); err != nil {
			fmt.Fprintf(stderr, "barbossa: %v\n", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(cfg, logger, version)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("agent stopped", "err", err)
		return 1
	}
	return 0
}

// check is `barbossa check`: everything `run` would refuse, all at once.
func check(path string, stdout, stderr io.Writer) int {
	name, data, err := readConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	cfg, err := config.ParseAll(name, data)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg != nil {
		errs = append(errs, agent.Check(cfg)...)
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "barbossa: %v\n", errors.Join(errs...))
		return 1
	}
	dropIns, _ := agent.DropIns(cfg)
	fmt.Fprintf(stdout, "%s: ok (%d probes, %d drop-ins)\n", cfg.File, len(cfg.Probes), len(dropIns))
	return 0
}

// loadConfig reads --config, else ./barbossa.toml, else the embedded default.
func loadConfig(path string) (*config.Config, error) {
	name, data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(name, data)
}

// readConfig finds the config's text: --config, else ./barbossa.toml,
// else the embedded default.
func readConfig(path string) (name string, data []byte, err error) {
	if path == "" {
		if _, err := os.Stat("barbossa.toml"); err != nil {
			return barbossa.DefaultConfigName, barbossa.DefaultConfig, nil
		}
		path = "barbossa.toml"
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("config: %w", err)
	}
	return path, data, nil
}
