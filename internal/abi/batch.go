package abi

import (
	"bytes"
	"encoding/json"
)

// BatchRequest is the envelope that sends several requests to one host
// function in a single call: {"batch": [REQ, ...], "timeout_ms": N}. The
// host answers a BatchResponse with one response per request, in order
// (docs/ABI.md, "Batches").
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

// DecodeBatch reads a host function's request as a batch envelope, on the
// host's side; ok is false when it is a plain request (or not JSON, which
// the function then reports as its own decode error).
func DecodeBatch(req []byte) (b BatchRequest[json.RawMessage], ok bool) {
	// Cheap test first: a plain request has no "batch" key.
	if !bytes.Contains(req, []byte(`"batch"`)) {
		return b, false
	}
	if err := json.Unmarshal(req, &b); err != nil || b.Batch == nil {
		return BatchRequest[json.RawMessage]{}, false
	}
	return b, true
}
