package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

var registry struct {
	sync.Mutex
	probes []Probe
}

// Register makes p available to the host; call it from init (or from main
// before Serve). A module may register several probes: they share one Go
// runtime, and the host picks one by its Info().Name (the "kind" of the
// collect request). Register panics on an empty or duplicate name, as
// http.Handle does, because that is a bug in the probe's source.
func Register(p Probe) {
	name := p.Info().Name
	if name == "" {
		panic("sdk: Register: probe has an empty Info().Name")
	}
	registry.Lock()
	defer registry.Unlock()
	for _, q := range registry.probes {
		if q.Info().Name == name {
			panic(fmt.Sprintf("sdk: Register: probe %q registered twice", name))
		}
	}
	registry.probes = append(registry.probes, p)
}

func registered() []Probe {
	registry.Lock()
	defer registry.Unlock()
	return append([]Probe(nil), registry.probes...)
}

// describe returns the barbossa_describe document.
func describe() []byte {
	var infos []Info
	for _, p := range registered() {
		infos = append(infos, p.Info())
	}
	return encodeDescription(infos)
}

// collect runs one collect from a collect request document and returns the
// report document, or {"error": ...}. A panicking probe is an error, not a
// crash, so the host can tell the two apart.
func collect(reqJSON []byte) (out []byte) {
	req, err := decodeCollectRequest(reqJSON)
	if err != nil {
		return encodeError(err)
	}
	p, err := pick(req.Kind)
	if err != nil {
		return encodeError(err)
	}
	ctx := context.Background()
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			out = encodeError(fmt.Errorf("probe %q panicked: %v\n%s", p.Info().Name, v, debug.Stack()))
		}
	}()
	report, err := p.Collect(ctx, Request{Probe: req.Probe, Config: req.Config})
	if err != nil {
		return encodeError(err)
	}
	b, err := appendReport(nil, &report)
	if err != nil {
		return encodeError(wrapErr("encode report: ", err))
	}
	return b
}

func pick(kind string) (Probe, error) {
	probes := registered()
	if len(probes) == 0 {
		return nil, fmt.Errorf("no probe registered: call sdk.Register from init")
	}
	if kind == "" {
		return probes[0], nil
	}
	names := make([]string, 0, len(probes))
	for _, p := range probes {
		if p.Info().Name == kind {
			return p, nil
		}
		names = append(names, p.Info().Name)
	}
	return nil, fmt.Errorf("no probe of kind %q in this module (it has %s)", kind, strings.Join(names, ", "))
}
