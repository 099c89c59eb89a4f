package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxDepth bounds the nesting of objects and arrays in a report (or a
// description): the report object is level 1, an entity's attrs level 4,
// leaving 28 levels to an attribute's value. encoding/json alone accepts
// 10,000 levels, each a recursive call and allocations on the agent's heap.
const MaxDepth = 32

// ErrInvalidReport is matched (errors.Is) by every error of DecodeReport
// about what the probe returned, as opposed to the probe's own error
// (*ProbeError).
var ErrInvalidReport = errors.New("invalid report")

// ProbeError is a collect answered with {"error": "..."}: the probe could
// not run, and says why.
type ProbeError struct{ Message string }

func (e *ProbeError) Error() string { return e.Message }

// Validator is what DecodeReport decodes into: *sdk.Report, whose Validate
// checks the values (statuses, required names) and fills in defaults.
type Validator interface{ Validate() error }

// DecodeReport decodes a collect answer into report, strictly, the same for
// every runtime:
//
//   - at most MaxResult bytes, nested at most MaxDepth levels deep, checked
//     in one pass before anything is decoded;
//   - a key report's type does not have (a misspelt "metrcs"), text that
//     is not JSON, or anything after the JSON object is an error;
//   - then report.Validate.
//
// Those errors match ErrInvalidReport and quote the start of the answer.
// An answer with a top-level "error" key must be just {"error": "..."}, and
// comes back as a *ProbeError.
func DecodeReport(b []byte, report Validator) error {
	hasError, err := shape(b, MaxDepth)
	if err != nil {
		return fmt.Errorf("%w: %w; it starts %s", ErrInvalidReport, err, quoteStart(b))
	}
	if hasError {
		var e ErrorResponse
		if err := decodeStrict(b, &e); err != nil {
			return fmt.Errorf("%w: %w; it starts %s", ErrInvalidReport, err, quoteStart(b))
		}
		if e.Error == "" {
			return fmt.Errorf("%w: an empty error", ErrInvalidReport)
		}
		return &ProbeError{Message: e.Error}
	}
	if err := decodeStrict(b, report); err != nil {
		return fmt.Errorf("%w: %w; it starts %s", ErrInvalidReport, err, quoteStart(b))
	}
	if err := report.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidReport, err)
	}
	return nil
}

// decodeStrict decodes one JSON value into v, refusing unknown keys and
// anything but white space after the value.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := b[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return errors.New("data after the JSON value")
	}
	return nil
}

// shape walks b once, allocating nothing, to refuse what is too big or too
// deeply nested before a decoder spends memory on it, and to see whether
// the top-level object has an "error" key. It does not check that b is
// JSON: the decoder that follows does.
func shape(b []byte, maxDepth int) (hasError bool, err error) {
	if len(b) > MaxResult {
		return false, fmt.Errorf("%d bytes is over the limit of %d MiB", len(b), MaxResult>>20)
	}
	depth := 0
	object := false  // the top-level value is an object
	keyNext := false // the next string is a key of the top-level object
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, _ := stringEnd(b, i)
			if keyNext && depth == 1 && string(b[i:end]) == `"error"` {
				hasError = true
			}
			keyNext = false
			i = end - 1
		case '{', '[':
			depth++
			if depth > maxDepth {
				return false, fmt.Errorf("nested deeper than %d levels", maxDepth)
			}
			if depth == 1 {
				object = b[i] == '{'
				keyNext = object
			}
		case '}', ']':
			depth--
		case ',':
			keyNext = depth == 1 && object
		}
	}
	return hasError, nil
}

// stringEnd returns the index after the JSON string starting at b[i]; ok
// is false, and end len(b), when the string is not terminated.
func stringEnd(b []byte, i int) (end int, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
}
