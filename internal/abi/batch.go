package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// SplitBatch cuts a batch response, {"batch": [ITEM, ...]}, into its items
// on the guest's side, without encoding/json, which would scan the whole
// document twice (to validate, then to decode) before each item is decoded
// again: in a WASM guest that costs ~80 ns a byte a pass. Each item is
// still validated when it is decoded. isError is set for an {"error": ...}
// response. The host never escapes a key, so an escaped key is an error.
func SplitBatch(data []byte) (items []json.RawMessage, isError bool, err error) {
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
		if strings.Contains(key, `\`) {
			return nil, false, fmt.Errorf("escaped key %s", key)
		}
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
	end, ok := stringEnd(data, i)
	if !ok {
		return 0, errors.New("unterminated string")
	}
	return end, nil
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
