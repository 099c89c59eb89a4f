package pluginhost

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

// RunOnce starts the plugin binary at path, runs one collect with the probe
// entry p (its name, sha256, [probe.allow] grants and [probe.config]; an
// empty name is the binary's base name), stops the plugin and returns the
// report. Without a deadline on ctx the run is bounded by p.Timeout, or by
// DefaultStartTimeout when that is zero too. The plugin's output and its
// lifecycle go to slog.Default(). It is what `barbossa probe test BINARY`
// runs.
func RunOnce(ctx context.Context, path string, p config.Probe) (sdk.Report, error) {
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if _, ok := ctx.Deadline(); !ok {
		d := p.Timeout.Duration
		if d <= 0 {
			d = DefaultStartTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	pr, err := New(Options{
		Name:   p.Name,
		Path:   path,
		SHA256: p.SHA256,
		Grants: Grants(p.Allow),
		Config: p.Config,
	})
	if err != nil {
		return sdk.Report{}, err
	}
	defer pr.Close()
	return pr.Collect(ctx, sdk.Request{Probe: p.Name, Config: p.Config})
}

// Grants converts a probe's [probe.allow] table to hostfuncs grants.
func Grants(a config.Allow) hostfuncs.Grants {
	return hostfuncs.Grants{Exec: a.Exec, HTTP: a.HTTP, DBus: a.DBus, Read: a.Read}
}

// timeLeft is how long ctx has before its deadline, or d without one.
func timeLeft(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return min(d, time.Until(dl))
	}
	return d
}
