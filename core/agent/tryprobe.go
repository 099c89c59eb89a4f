package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

// TryOptions say what TryProbe runs.
type TryOptions struct {
	// Path is a WASM module or a native plugin binary; which is read from
	// the file itself.
	Path string
	// Config is the path of the probe's TOML (the body of a [[probe]]:
	// interval, timeout, max_memory, [allow], [config]); "" runs the probe
	// with the defaults and no grants.
	Config string
	// Kind picks a probe in a module or binary that carries several; "" is
	// the first.
	Kind string
	// CacheDir keeps compiled WASM between runs; "" compiles every time.
	CacheDir string
	// Logger receives the probe's output and log messages and denied calls.
	Logger *slog.Logger
}

// TryResult is what one test run of a probe gave.
type TryResult struct {
	Probe    config.Probe  // the entry as the agent would run it
	Info     sdk.Info      // the probe's description of itself
	Report   sdk.Report    // valid when the error is nil
	Duration time.Duration // of the collect, without compiling or starting
	Denied   uint64        // host calls the grants refused
}

// triedProbe is what TryProbe needs of either runtime's probe.
type triedProbe interface {
	Info() sdk.Info
	Collect(ctx context.Context, req sdk.Request) (sdk.Report, error)
	Denied() uint64
	Close() error
}

// TryProbe runs one collect of a WASM module or a plugin binary as the
// agent would run it with the given TOML, for probe authors (`barbossa
// probe test`). The error is a bad file or config, a probe the agent would
// refuse, or the run's failure; the result is filled as far as the run got.
func TryProbe(ctx context.Context, o TryOptions) (TryResult, error) {
	var res TryResult
	head := make([]byte, 4)
	f, err := os.Open(o.Path)
	if err != nil {
		return res, err
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return res, fmt.Errorf("%s: %w", o.Path, err)
	}
	runtime := config.RuntimePlugin
	if bytes.Equal(head, []byte("\x00asm")) {
		runtime = config.RuntimeWASM
	}
	p, err := tryEntry(o, runtime)
	if err != nil {
		return res, err
	}
	res.Probe = p
	var probe triedProbe
	if runtime == config.RuntimeWASM {
		probe, err = tryWASM(ctx, o, p)
	} else {
		// A path without a slash ("dirwatch", as a Makefile passes it) is
		// the file here, not a program to look up in PATH.
		bin, absErr := filepath.Abs(o.Path)
		if absErr != nil {
			return res, absErr
		}
		probe, err = pluginhost.New(pluginhost.Options{
			Name: p.Name, Path: bin, SHA256: p.SHA256, Kind: o.Kind,
			Grants: hostfuncs.Grants(p.Allow), Config: p.Config, MaxDepth: p.Limits.MaxDepth, Logger: o.Logger,
		})
	}
	if err != nil {
		return res, err
	}
	defer probe.Close()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout.Duration)
	defer cancel()
	start := time.Now()
	res.Report, err = probe.Collect(ctx, sdk.Request{Probe: p.Name, Config: p.Config})
	res.Duration = time.Since(start)
	res.Info = probe.Info()
	res.Denied = probe.Denied()
	return res, err
}

// tryEntry is the [[probe]] entry a test runs: from o.Config, or the
// defaults, named after the file.
func tryEntry(o TryOptions, runtime string) (config.Probe, error) {
	stem := strings.TrimSuffix(filepath.Base(o.Path), ".wasm")
	if o.Config == "" {
		p := config.Probe{Name: stem, Runtime: runtime, Source: o.Path, Kind: o.Kind}
		p.ApplyDefaults(config.DefaultRetention)
		if errs := p.Check(); len(errs) > 0 {
			return p, fmt.Errorf("%s: %w (name the probe in a --config file)", o.Path, errs[0])
		}
		return p, nil
	}
	data, err := os.ReadFile(o.Config)
	if err != nil {
		return config.Probe{}, err
	}
	return config.ParseProbe(o.Config, data, config.ProbeFile{Name: stem, Source: o.Path, Runtime: runtime, Retention: config.DefaultRetention})
}

// tryWASM compiles the module and makes its probe; closing the probe
// closes the throw-away host too.
func tryWASM(ctx context.Context, o TryOptions, p config.Probe) (triedProbe, error) {
	wasm, err := os.ReadFile(o.Path)
	if err != nil {
		return nil, err
	}
	host, err := wasmhost.New(wasmhost.Options{CacheDir: o.CacheDir, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	mod, err := host.Load(ctx, filepath.Base(o.Path), wasm)
	if err == nil {
		var probe *wasmhost.Probe
		if probe, err = host.NewProbe(mod, wasmProbeOptions(p, o.Kind)); err == nil {
			return &hostedProbe{Probe: probe, host: host}, nil
		}
	}
	host.Close(context.Background())
	return nil, err
}

// hostedProbe is a WASM probe that owns its host.
type hostedProbe struct {
	*wasmhost.Probe
	host *wasmhost.Host
}

func (h *hostedProbe) Close() error {
	err := h.Probe.Close()
	h.host.Close(context.Background())
	return err
}
