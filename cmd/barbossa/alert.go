package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/barbossa-agent/barbossa/core/alert"
)

// alertTest is `barbossa alert test NAME`: a test notification through
// every route of rule NAME (or to receiver NAME), sent at once, each
// receiver's outcome printed. It does not need the agent running, nor
// touch its store.
func alertTest(configPath, name string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := alert.Test(ctx, cfg, name, "")
	if err != nil {
		fmt.Fprintf(stderr, "barbossa: alert test %s: %v\n", name, err)
		return 1
	}
	code := 0
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(stdout, "%s (%s): FAILED after %s: %v\n", r.Receiver, r.Type, r.Took.Round(time.Millisecond), r.Err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "%s (%s): sent in %s\n", r.Receiver, r.Type, r.Took.Round(time.Millisecond))
	}
	return code
}
