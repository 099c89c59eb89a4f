package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("%s: %w", fn, err))
	}
	in, err := json.Marshal(BatchRequest[Req]{Batch: reqs, TimeoutMS: timeoutFrom(ctx, 0)})
	if err != nil {
		return fail(fmt.Errorf("%s: encode request: %w", fn, err))
	}
	out, err := currentTransport().Call(ctx, fn, in)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", fn, err))
	}
	items, isError, err := splitBatch(out)
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

// splitBatch cuts a batch response, {"batch": [ITEM, ...]}, into its items
// without encoding/json, which would scan the whole document twice (to
// validate, then to decode) before each item is decoded again: in a WASM
// guest that costs ~80 ns a byte a pass. Each item is still validated when
// it is decoded. isError is set for an {"error": ...} response.
func splitBatch(data []byte) (items []json.RawMessage, isError bool, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false, errors.New("not an object")
	}
	i++
	found := false
	for first := true; ; first = false {
		i = skipSpace(data, i)
		if first && i < len(data) && data[i] == '}' {
			break
		}
		end, err := skipString(data, i)
		if err != nil {
			return nil, false, err
		}
		key := string(data[i:end])
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, false, errors.New("want ':' after a key")
		}
		i = skipSpace(data, i+1)
		switch key {
		case `"error"`:
			return nil, true, nil
		case `"batch"`:
			if i >= len(data) || data[i] != '[' {
				return nil, false, errors.New(`"batch" is not an array`)
			}
			found = true
			items = []json.RawMessage{}
			i = skipSpace(data, i+1)
			for i < len(data) && data[i] != ']' {
				end, err := skipValue(data, i)
				if err != nil {
					return nil, false, err
				}
				items = append(items, data[i:end])
				i = skipSpace(data, end)
				if i < len(data) && data[i] == ',' {
					i = skipSpace(data, i+1)
				} else if i >= len(data) || data[i] != ']' {
					return nil, false, errors.New("want ',' or ']' in the batch")
				}
			}
			if i >= len(data) {
				return nil, false, errors.New("unterminated batch")
			}
			i++
		default:
			if i, err = skipValue(data, i); err != nil {
				return nil, false, err
			}
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i++
			continue
		}
		if i >= len(data) || data[i] != '}' {
			return nil, false, errors.New("want ',' or '}' after a value")
		}
		break
	}
	if skipSpace(data, i+1) != len(data) {
		return nil, false, errors.New("data after the response")
	}
	if !found {
		return nil, false, errors.New(`no "batch" in the response`)
	}
	return items, false, nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at data[i].
func skipString(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return 0, errors.New("want a string")
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// skipValue returns the index after the JSON value starting at data[i]. It
// tracks only strings and nesting; what it skips is validated later.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errors.New("want a value")
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	}
	j := i
	for j < len(data) && !strings.ContainsRune(",]} \t\n\r", rune(data[j])) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("unexpected %q", data[i])
	}
	return j, nil
}
