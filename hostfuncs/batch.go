package hostfuncs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// Limits of one batch call.
const (
	maxBatch          = 256      // requests in one batch
	batchParallel     = 32       // requests of one batch running at once
	maxBatchResponses = 32 << 20 // bytes of all responses of one batch
)

// A batch (abi.BatchRequest): any JSON host function (exec, http, dbus,
// read_file) accepts {"batch": [REQ, ...], "timeout_ms": N} and answers
// {"batch": [RESP, ...]}, one response (a result or {"error": ...}) per
// request, in order.
//
// A Go guest is single-threaded: while one import call runs, the whole guest
// waits, so goroutines in the guest cannot overlap host calls. A batch lets
// the host overlap them instead: up to batchParallel requests run at once,
// each checked against the grants and counted as if called alone. The
// docker probe needs it (dockerd 20.10 answers a one-shot stats request
// only at its next 1 s collection tick, so N containers one after the other
// take N seconds; together they take one). batchParallel is 32 rather than
// a handful for the same reason: requests beyond it wait for the next tick.

// batch runs every request of b through f, batchParallel at a time, and
// returns the encoded batch response. Responses past maxBatchResponses bytes
// in total are replaced by an error, so a batch cannot return more than a
// guest could hold.
func (c *Caller) batch(ctx context.Context, f hostFunc, b abi.BatchRequest[json.RawMessage]) []byte {
	if b.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(b.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	out := make([]json.RawMessage, len(b.Batch))
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i, req := range b.Batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.one(ctx, f, req)
		}()
	}
	wg.Wait()
	total := 0
	for i := range out {
		total += len(out[i])
		if total > maxBatchResponses {
			out[i] = errorJSON(fmt.Errorf("%s: batch responses are over %d MiB in total; this one was dropped", f.name, maxBatchResponses>>20))
		}
	}
	resp, err := json.Marshal(abi.BatchResponse{Batch: out})
	if err != nil {
		return errorJSON(fmt.Errorf("encode batch response: %w", err))
	}
	return resp
}
