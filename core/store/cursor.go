package store

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrBadCursor is wrapped by the error for a series-list cursor that this
// store did not hand out for the same listing.
var ErrBadCursor = errors.New("bad cursor")

// maxCursorLen bounds a cursor before it is decoded: base64 of the longest
// index key Badger can hold (65,000 bytes).
const maxCursorLen = (65_000*4 + 2) / 3

// encodeCursor makes the cursor that resumes a listing after index key k:
// the key without its prefix byte, base64url without padding. It is opaque
// to clients, and only ever a seek position: no cursor reads anything a
// listing would not.
func encodeCursor(k []byte) string {
	return base64.RawURLEncoding.EncodeToString(k[1:])
}

// decodeCursor returns the index key a cursor resumes after, or nil for
// "". It must be a well-formed index key within m's listing: of its name
// and probe, when m names them.
func decodeCursor(c string, m Match) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	if len(c) > maxCursorLen {
		return nil, fmt.Errorf("%w: %d characters, longer than any cursor", ErrBadCursor, len(c))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != c { // the decoder skips newlines
		return nil, fmt.Errorf("%w: not one this API handed out", ErrBadCursor)
	}
	k := append([]byte{prefixIndex}, raw...)
	name, probe, _, ok := parseIndexKey(k)
	if !ok {
		return nil, fmt.Errorf("%w: not one this API handed out", ErrBadCursor)
	}
	if m.Name != "" && (name != m.Name || m.Probe != "" && probe != m.Probe) {
		return nil, fmt.Errorf("%w: it continues a listing of another name or probe", ErrBadCursor)
	}
	return k, nil
}
