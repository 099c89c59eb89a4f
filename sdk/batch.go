package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// BatchRequest is the envelope that sends several requests to one host
// function in a single call: {"batch": [REQ, ...], "timeout_ms": N}. The
// host runs them concurrently (32 at a time, at most 256 per batch) and
// answers a BatchResponse with one response per request, in order.
type BatchRequest[Req any] struct {
	Batch []Req `json:"batch"`
	// TimeoutMS bounds the whole batch; 0 means the run's deadline.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// BatchResponse holds one JSON response per request of a batch: the
// function's result or {"error": "..."}.
type BatchResponse struct {
	Batch []json.RawMessage `json:"batch"`
}

// HTTPBatch makes several HTTP requests in one host call. A Go guest is
// single-threaded, so goroutines cannot overlap host calls; the host can:
// it runs the requests concurrently. resps[i] and errs[i] belong to reqs[i];
// errs[i] is nil when the request got a response. The batch ends at ctx's
// deadline; a request it cuts short has an error matching ErrTimeout.
func HTTPBatch(ctx context.Context, reqs []HTTPRequest) (resps []HTTPResponse, errs []error) {
	reqs = slices.Clone(reqs) // the caller's requests stay as they were
	for i := range reqs {
		reqs[i].TimeoutMS = timeoutFrom(ctx, reqs[i].TimeoutMS)
	}
	resps, errs = batch[HTTPRequest, HTTPResponse](ctx, FuncHTTP, reqs)
	for i := range resps {
		if errs[i] != nil {
			continue
		}
		body, err := decodeData(resps[i].Body, resps[i].Encoding)
		if err != nil {
			errs[i] = fmt.Errorf("http: %w", err)
			continue
		}
		resps[i].Body, resps[i].Encoding = body, ""
	}
	return resps, errs
}

// DBusBatch makes several D-Bus calls in one host call, run concurrently by
// the host (see HTTPBatch).
func DBusBatch(ctx context.Context, reqs []DBusRequest) ([]DBusResponse, []error) {
	return batch[DBusRequest, DBusResponse](ctx, FuncDBus, reqs)
}

// batch sends reqs to fn as one batch and decodes each response.
func batch[Req, Resp any](ctx context.Context, fn string, reqs []Req) ([]Resp, []error) {
	resps := make([]Resp, len(reqs))
	errs := make([]error, len(reqs))
	fail := func(err error) ([]Resp, []error) {
		for i := range errs {
			errs[i] = err
		}
		return resps, errs
	}
	if len(reqs) == 0 {
		return resps, errs
	}
	var out BatchResponse
	if err := call(ctx, fn, BatchRequest[Req]{Batch: reqs, TimeoutMS: timeoutFrom(ctx, 0)}, &out); err != nil {
		return fail(err)
	}
	if len(out.Batch) != len(reqs) {
		return fail(fmt.Errorf("%s: batch of %d requests got %d responses", fn, len(reqs), len(out.Batch)))
	}
	for i, raw := range out.Batch {
		if err := hostError(fn, raw); err != nil {
			errs[i] = err
			continue
		}
		if err := json.Unmarshal(raw, &resps[i]); err != nil {
			errs[i] = fmt.Errorf("%s: decode response: %w", fn, err)
		}
	}
	return resps, errs
}
