package abi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// CollectRequest is the JSON the host passes to barbossa_collect, or to a
// plugin's Collect. Probe and Config are what a probe sees as sdk.Request.
type CollectRequest struct {
	// Probe is the probe's name in the agent's config.
	Probe string `json:"probe"`
	// Config is the probe's [probe.config] table.
	Config map[string]any `json:"config,omitempty"`
	// Kind picks one probe in a module that bundles several (the name in
	// its Info); empty means the module's only, or first, probe.
	Kind string `json:"kind,omitempty"`
	// TimeoutMS is the time left for the run when it started, so the
	// probe's context carries the same deadline as the host's.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// EncodeCollect encodes the collect request of a run that ends at ctx's
// deadline: timeout_ms is the time left (TimeoutMS).
func EncodeCollect(ctx context.Context, req CollectRequest) ([]byte, error) {
	req.TimeoutMS = TimeoutMS(ctx)
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode collect request: %w", err)
	}
	return b, nil
}

// DecodeCollect decodes a collect request on the probe's side. Keys it
// does not know are ignored: a newer host may send more.
func DecodeCollect(b []byte) (CollectRequest, error) {
	var req CollectRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return CollectRequest{}, fmt.Errorf("decode collect request: %w", err)
	}
	return req, nil
}

// description is the JSON barbossa_describe (or a plugin's Describe)
// returns: the probes a module carries, as sdk.Info values.
type description[Info any] struct {
	Probes []Info `json:"probes"`
}

// EncodeDescription encodes the describe answer listing probes.
func EncodeDescription[Info any](probes []Info) ([]byte, error) {
	if probes == nil {
		probes = []Info{}
	}
	b, err := json.Marshal(description[Info]{Probes: probes})
	if err != nil {
		return nil, fmt.Errorf("encode description: %w", err)
	}
	return b, nil
}

// DecodeDescription reads a describe answer into Info values (sdk.Info):
// {"probes": [INFO, ...]}, or a single INFO object, or {"error": "..."}.
// Every probe needs a name, unique in the module. Keys it does not know are
// ignored, so a newer SDK may describe more; size and nesting are bounded
// as for reports, nesting always by DefaultMaxDepth.
func DecodeDescription[Info any](b []byte) ([]Info, error) {
	hasError, err := shape(b, DefaultMaxDepth)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	if hasError {
		var e ErrorResponse
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			return nil, fmt.Errorf("describe returned %s, not a description", quoteStart(b))
		}
		return nil, fmt.Errorf("describe: %s", e.Error)
	}
	var d struct {
		Probes []json.RawMessage `json:"probes"`
		Name   *string           `json:"name"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("describe returned %s, not JSON: %w", quoteStart(b), err)
	}
	raws := d.Probes
	if raws == nil && d.Name != nil {
		raws = []json.RawMessage{b} // a single Info
	}
	if len(raws) == 0 {
		return nil, errors.New("describe lists no probe (does the probe call sdk.Register?)")
	}
	probes := make([]Info, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		var named struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, fmt.Errorf("describe: probes[%d]: %w", i, err)
		}
		if err := json.Unmarshal(raw, &probes[i]); err != nil {
			return nil, fmt.Errorf("describe: probes[%d]: %w", i, err)
		}
		switch {
		case named.Name == "":
			return nil, fmt.Errorf("describe: probes[%d] has no name", i)
		case seen[named.Name]:
			return nil, fmt.Errorf("describe: probe %q listed twice", named.Name)
		}
		seen[named.Name] = true
	}
	return probes, nil
}

// quoteStart quotes the first bytes of b, for errors about what a probe
// returned.
func quoteStart(b []byte) string {
	const n = 64
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
