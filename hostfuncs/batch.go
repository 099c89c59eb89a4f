package hostfuncs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// Limits of one batch call.
const (
	maxBatch      = 256 // requests in one batch
	batchParallel = 32  // requests of one batch running at once
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
// returns the encoded batch response. All requests share the call's budget:
// answers past it in total are errors.
func (c *Caller) batch(ctx context.Context, f hostFunc, b abi.BatchRequest[json.RawMessage], budget *callBudget) []byte {
	if b.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(b.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	out := make([][]byte, len(b.Batch))
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i, req := range b.Batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.one(ctx, f, req, budget)
		}()
	}
	wg.Wait()
	return joinBatch(out)
}

// joinBatch is {"batch": [A, B, ...]} of answers that are JSON already,
// in one allocation of exactly its size.
func joinBatch(answers [][]byte) []byte {
	const open, close = `{"batch":[`, `]}`
	n := len(open) + len(close) + max(len(answers)-1, 0)
	for _, a := range answers {
		n += len(a)
	}
	resp := make([]byte, 0, n)
	resp = append(resp, open...)
	for i, a := range answers {
		if i > 0 {
			resp = append(resp, ',')
		}
		resp = append(resp, a...)
	}
	return append(resp, close...)
}
