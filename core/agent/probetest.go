package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/sdk"
)

// TestOptions say what TestWASM runs.
type TestOptions struct {
	// WASM is the path of the module.
	WASM string
	// Config is the path of a drop-in TOML file (the body of a [[probe]]:
	// interval, timeout, max_memory, [allow], [config]); "" runs the probe
	// with the defaults and no grants.
	Config string
	// Kind picks a probe in a module that bundles several; "" is the first.
	Kind string
	// CacheDir keeps compiled code between runs; "" compiles every time.
	CacheDir string
	// Logger receives the guest's output and log messages and denied calls.
	Logger *slog.Logger
}

// TestResult is what one test run of a probe gave.
type TestResult struct {
	Probe    config.Probe  // the entry as the agent would run it
	Info     sdk.Info      // the module's description of the probe
	Report   sdk.Report    // valid when Err is nil
	Duration time.Duration // of the collect, without compiling
	Denied   uint64        // host calls the grants refused
}

// TestWASM loads a module and runs one collect as the agent would run it as
// a drop-in with the given TOML, for probe authors (`barbossa probe test`).
// The error is a bad file or config, a module the agent would refuse, or
// the run's failure; the result is filled as far as the run got.
func TestWASM(ctx context.Context, o TestOptions) (TestResult, error) {
	var res TestResult
	stem := strings.TrimSuffix(filepath.Base(o.WASM), ".wasm")
	wasm, err := os.ReadFile(o.WASM)
	if err != nil {
		return res, err
	}
	p := config.Probe{Name: stem, Runtime: config.RuntimeWASM, Source: o.WASM}
	if o.Config != "" {
		data, err := os.ReadFile(o.Config)
		if err != nil {
			return res, err
		}
		if p, err = parseDropIn(o.Config, data, stem, o.WASM, config.DefaultRetention); err != nil {
			return res, err
		}
	} else {
		p.ApplyDefaults(config.DefaultRetention)
		if errs := p.Check(); len(errs) > 0 {
			return res, fmt.Errorf("%s: %w (name the probe in a --config file)", o.WASM, errs[0])
		}
	}
	res.Probe = p
	host, err := wasmhost.New(wasmhost.Options{CacheDir: o.CacheDir, Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer host.Close(context.Background())
	mod, err := host.Load(ctx, filepath.Base(o.WASM), wasm)
	if err != nil {
		return res, err
	}
	probe, err := host.NewProbe(mod, wasmProbeOptions(p, o.Kind))
	if err != nil {
		return res, err
	}
	defer probe.Close()
	res.Info = probe.Info()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.Duration)
	defer cancel()
	start := time.Now()
	res.Report, err = probe.Collect(ctx, sdk.Request{Probe: p.Name, Config: p.Config})
	res.Duration = time.Since(start)
	res.Denied = probe.Denied()
	return res, err
}
