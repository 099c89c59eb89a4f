package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// How deeply the objects and arrays of a report may nest: the report
// object is level 1, a metric's labels and an entity's attrs level 4, so
// DefaultMaxDepth leaves 28 levels to an attribute's value. A probe's
// max_depth (in [limits]) moves the bound within MinMaxDepth..MaxMaxDepth;
// a description is always held to DefaultMaxDepth.
//
// encoding/json alone accepts 10,000 levels, each a recursive call on the
// agent's stack and an allocation on its heap, and so does everything that
// later walks the report (the store's encoder, the portal's); MaxMaxDepth
// keeps that recursion a few hundred frames deep whatever the config says.
// MinMaxDepth is the least a normal report needs: attrs and labels holding
// plain values.
const (
	DefaultMaxDepth = 32
	MinMaxDepth     = 4
	MaxMaxDepth     = 256
)

// MaxDepthKey is the config key that sets a probe's max_depth, named by the
// error of a report nested deeper.
const MaxDepthKey = "limits.max_depth"

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
//   - at most MaxResult bytes, nested at most maxDepth levels deep (the
//     probe's max_depth; 0 is DefaultMaxDepth, and it is clamped to
//     MinMaxDepth..MaxMaxDepth), checked in one pass before anything is
//     decoded;
//   - a key report's type does not have (a misspelt "metrcs"), text that
//     is not JSON, or anything after the JSON object is an error;
//   - then report.Validate.
//
// Those errors match ErrInvalidReport and quote the start of the answer.
// An answer with a top-level "error" key must be just {"error": "..."}, and
// comes back as a *ProbeError.
func DecodeReport(b []byte, maxDepth int, report Validator) error {
	hasError, err := shape(b, ReportDepth(maxDepth))
	if errors.Is(err, errTooDeep) {
		err = fmt.Errorf("%w (the probe's %s)", err, MaxDepthKey)
	}
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

// ReportDepth is the bound DecodeReport applies for a probe's max_depth
// of n: DefaultMaxDepth for 0, else n within MinMaxDepth..MaxMaxDepth.
func ReportDepth(n int) int {
	if n == 0 {
		return DefaultMaxDepth
	}
	return min(max(n, MinMaxDepth), MaxMaxDepth)
}

// errTooDeep is matched by shape's error for a value nested too deeply.
var errTooDeep = errors.New("nested deeper than")

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
				return false, fmt.Errorf("%w %d levels", errTooDeep, maxDepth)
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
