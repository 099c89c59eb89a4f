package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/barbossa-agent/barbossa/core/agent"
)

// probeTest is `barbossa probe test FILE`.
func probeTest(file, configPath, kind string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := agent.TryProbe(ctx, agent.TryOptions{
		Path:     file,
		Config:   configPath,
		Kind:     kind,
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
