package sdk

import (
	"context"
	"errors"
	"strconv"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// HTTPBatch makes several HTTP requests in one host call. A Go guest is
// single-threaded, so goroutines cannot overlap host calls; the host can:
// it runs the requests concurrently (docs/ABI.md, "Batches"). resps[i] and
// errs[i] belong to reqs[i]; errs[i] is nil when the request got a response.
// The batch ends at ctx's deadline; a request it cuts short has an error
// matching ErrTimeout.
func HTTPBatch(ctx context.Context, reqs []HTTPRequest) (resps []HTTPResponse, errs []error) {
	items := make([][]byte, len(reqs))
	for i, r := range reqs { // r is a copy: the caller's requests stay as they were
		r.TimeoutMS = timeoutFrom(ctx, r.TimeoutMS)
		items[i] = r.appendJSON(nil)
	}
	resps = make([]HTTPResponse, len(reqs))
	errs = batch(ctx, abi.FuncHTTP, items, func(i int, j JSON) error {
		resps[i] = decodeHTTPResponse(j)
		body, err := decodeData(resps[i].Body, resps[i].Encoding)
		if err != nil {
			return errors.New("http: " + err.Error())
		}
		resps[i].Body, resps[i].Encoding = body, ""
		return nil
	})
	return resps, errs
}

// DBusBatch makes several D-Bus calls in one host call, run concurrently by
// the host (see HTTPBatch).
func DBusBatch(ctx context.Context, reqs []DBusRequest) ([]DBusResponse, []error) {
	items := make([][]byte, len(reqs))
	resps := make([]DBusResponse, len(reqs))
	for i, r := range reqs {
		b, err := r.appendJSON(nil)
		if err != nil {
			errs := make([]error, len(reqs))
			for k := range errs {
				errs[k] = errors.New("dbus: encode request " + strconv.Itoa(i) + ": " + err.Error())
			}
			return resps, errs
		}
		items[i] = b
	}
	errs := batch(ctx, abi.FuncDBus, items, func(i int, j JSON) error {
		resps[i] = decodeDBusResponse(j)
		return nil
	})
	return resps, errs
}

// batch sends the encoded requests to fn as one batch and hands each
// response that is not an error to decode.
func batch(ctx context.Context, fn string, items [][]byte, decode func(i int, j JSON) error) []error {
	errs := make([]error, len(items))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if len(items) == 0 {
		return errs
	}
	j, err := call(ctx, fn, appendBatch(nil, items, abi.TimeoutMS(ctx)))
	if err != nil {
		return fail(err)
	}
	got := j.Get("batch")
	switch {
	case got.Kind() != KindArray:
		return fail(errors.New(fn + `: decode batch response: no "batch" array`))
	case got.Len() != len(items):
		return fail(errors.New(fn + ": batch of " + strconv.Itoa(len(items)) + " requests got " + strconv.Itoa(got.Len()) + " responses"))
	}
	for i, item := range got.Array() {
		if err := hostError(fn, item); err != nil {
			errs[i] = err
			continue
		}
		if item.Kind() != KindObject {
			errs[i] = errors.New(fn + ": decode response: not a JSON object")
			continue
		}
		errs[i] = decode(i, item)
	}
	return errs
}
