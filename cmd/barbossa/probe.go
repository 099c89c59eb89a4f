package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/barbossa-agent/barbossa/core/agent"
)

const probeUsage = `usage:
  barbossa probe test FILE [--config probe.toml] [--kind NAME]

Runs one collect of a probe, a WASM module (FILE.wasm) or a native plugin
binary, as the agent would run it, and prints the report as JSON.
probe.toml is the body of its [[probe]] entry (interval, timeout,
max_memory, sha256, [allow], [config]); without it the probe runs with no
grants. The probe's log and denied calls go to stderr.
`

// probeCmd is `barbossa probe test`. Flags may come before or after FILE.
func probeCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(stderr, probeUsage)
		return 2
	}
	fs := flag.NewFlagSet("probe test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, probeUsage) }
	configPath := fs.String("config", "", "the probe's TOML (a drop-in's NAME.toml)")
	kind := fs.String("kind", "", "which probe of a module that bundles several")
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprint(stderr, probeUsage)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := agent.TestProbe(ctx, agent.TestOptions{
		Path:     files[0],
		Config:   *configPath,
		Kind:     *kind,
		CacheDir: cacheDir(),
		Logger:   logger,
	})
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res.Report); err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "probe %q (%s %s): %s in %s, %d metrics, %d entities, %d denied calls\n",
		res.Probe.Name, res.Info.Name, res.Info.Version, res.Report.Status, res.Duration.Round(10_000),
		len(res.Report.Metrics), len(res.Report.Entities), res.Denied)
	return 0
}

// cacheDir is where `probe test` keeps compiled modules, so a second run
// starts in milliseconds; "" (no cache) when there is no user cache folder.
func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "barbossa", "wasm-cache")
}
