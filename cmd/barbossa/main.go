// Command barbossa is the host-monitoring agent: `barbossa run` starts it,
// `barbossa check` validates a config, `barbossa probes` lists what would run,
// `barbossa probe test` runs a WASM or plugin probe once, `barbossa reload`
// makes a running agent re-read its config. cli.go holds the commands and
// their help, from which --help, the shell completions and the man page
// are all made.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"

	"github.com/barbossa-agent/barbossa"
	"github.com/barbossa-agent/barbossa/core/agent"
	"github.com/barbossa-agent/barbossa/core/config"
)

// Set by the linker (-ldflags "-X main.version=... -X main.buildDate=...").
var (
	version   = "dev"
	buildDate = "unknown"
)

func main() {
	agent.RunCompileChild() // a copy of the agent compiling a WASM module: it exits there
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// versionText is what `barbossa version` prints.
func versionText() string {
	return fmt.Sprintf("barbossa %s (WASM ABI %d)\nbuilt %s with %s for %s/%s\n",
		version, agent.ABIVersion, buildDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// runAgent is `barbossa run`: the agent until SIGINT or SIGTERM; SIGHUP
// reloads the config.
func runAgent(configPath string, stderr io.Writer) int {
	// Before anything else: from here on a SIGHUP reloads instead of
	// killing the process (the default action), even during start-up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	logger, err := agent.NewLogger(stderr, cfg.Agent.LogLevel, cfg.Agent.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(cfg, logger, version)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = a.Reload() // it logs what it did or why it refused
			}
		}
	}()
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("agent stopped", "err", err)
		return 1
	}
	return 0
}

// check is `barbossa check`: every problem that would make `run` refuse
// the config, or skip a drop-in, in one report.
func check(path string, stdout, stderr io.Writer) int {
	name, data, err := readConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	cfg, errs, dropInErrs := agent.CheckConfig(name, data)
	if errs = append(errs, dropInErrs...); len(errs) > 0 {
		fmt.Fprintf(stderr, "barbossa: %v\n", errors.Join(errs...))
		return 1
	}
	dropIns, _ := agent.DropIns(cfg)
	for _, w := range agent.GrantWarnings(slices.Concat(cfg.Probes, dropIns)) {
		fmt.Fprintf(stderr, "barbossa: warning: %v\n", w)
	}
	fmt.Fprintf(stdout, "%s: ok (%d probes, %d drop-ins)\n", cfg.File, len(cfg.Probes), len(dropIns))
	return 0
}

// probes is `barbossa probes`.
func probes(configPath string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	if errs := agent.PrintProbes(stdout, cfg); len(errs) > 0 {
		fmt.Fprintf(stderr, "barbossa: skipped: %v\n", errors.Join(errs...))
		return 1
	}
	return 0
}

// reload is `barbossa reload`: check the config, then send SIGHUP to the
// running agent. systemd's ExecReload runs it, so a bad config fails
// `systemctl reload` with its problems before the agent even sees it.
func reload(configPath string, pid int, stdout, stderr io.Writer) int {
	name, data, err := readConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	_, errs, dropInErrs := agent.CheckConfig(name, data)
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "barbossa: %v\nbarbossa: not reloaded: the running agent keeps its config\n", errors.Join(errs...))
		return 1
	}
	if len(dropInErrs) > 0 {
		// As run does: a bad drop-in is skipped, the rest goes on.
		fmt.Fprintf(stderr, "barbossa: these drop-ins will be skipped: %v\n", errors.Join(dropInErrs...))
	}
	if pid <= 1 {
		fmt.Fprintf(stderr, "barbossa: --pid %d: the agent's process id is needed ($MAINPID under systemd)\n", pid)
		return 2
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		fmt.Fprintf(stderr, "barbossa: signal %d: %v\n", pid, err)
		return 1
	}
	fmt.Fprintf(stdout, "sent SIGHUP to %d\n", pid)
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
