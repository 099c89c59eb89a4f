package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// HTTPBatch makes several HTTP requests in one host call. A Go guest is
// single-threaded, so goroutines cannot overlap host calls; the host can:
// it runs the requests concurrently (docs/ABI.md, "Batches"). resps[i] and
// errs[i] belong to reqs[i]; errs[i] is nil when the request got a response.
// The batch ends at ctx's deadline; a request it cuts short has an error
// matching ErrTimeout.
func HTTPBatch(ctx context.Context, reqs []HTTPRequest) (resps []HTTPResponse, errs []error) {
	reqs = slices.Clone(reqs) // the caller's requests stay as they were
	for i := range reqs {
		reqs[i].TimeoutMS = timeoutFrom(ctx, reqs[i].TimeoutMS)
	}
	resps, errs = batch[HTTPRequest, HTTPResponse](ctx, abi.FuncHTTP, reqs)
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
	return batch[DBusRequest, DBusResponse](ctx, abi.FuncDBus, reqs)
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
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("%s: %w", fn, err))
	}
	in, err := json.Marshal(abi.BatchRequest[Req]{Batch: reqs, TimeoutMS: abi.TimeoutMS(ctx)})
	if err != nil {
		return fail(fmt.Errorf("%s: encode request: %w", fn, err))
	}
	out, err := currentTransport().Call(ctx, fn, in)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", fn, err))
	}
	items, isError, err := abi.SplitBatch(out)
	switch {
	case isError:
		if err := hostError(fn, out); err != nil {
			return fail(err)
		}
		return fail(fmt.Errorf("%s: decode response: empty error", fn))
	case err != nil:
		return fail(fmt.Errorf("%s: decode batch response: %w", fn, err))
	case len(items) != len(reqs):
		return fail(fmt.Errorf("%s: batch of %d requests got %d responses", fn, len(reqs), len(items)))
	}
	for i, raw := range items {
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
