package sdk

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// The SDK's JSON encoder: append-style and reflection-free, for the
// documents a probe sends (its report, host call requests). In a WASM guest
// under the agent's hard timeouts every taken branch of Go code costs an
// exit from machine code (docs/PERFORMANCE.md, "The guest"), and
// encoding/json's reflection takes many: this encoder writes straight-line
// code for the known types and scans strings eight bytes at a time.

// errUnsupported is matched by an attribute value the encoder cannot write.
var errUnsupported = errors.New("unsupported type")

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load8 reads 8 bytes of s at i, little-endian (one load where the compiler
// can; eight without a branch in a WASM guest).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// zeroBytes has the high bit of the lowest zero byte of x set (higher bits
// may be false positives, which callers never look at).
func zeroBytes(x uint64) uint64 { return (x - lsb) &^ x & msb }

// encodeSpecial marks the bytes a JSON string cannot hold as they are: '"',
// '\\', control characters, and (for UTF-8 checking) any non-ASCII byte.
func encodeSpecial(x uint64) uint64 {
	return (zeroBytes(x^(lsb*'"')) | zeroBytes(x^(lsb*'\\')) | (x - lsb*0x20) | x) & msb
}

// plainPrefix is how many leading bytes of s a JSON string holds unescaped.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if m := encodeSpecial(load8(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for {
		n := plainPrefix(s)
		b = append(b, s[:n]...)
		s = s[n:]
		if s == "" {
			return append(b, '"')
		}
		c := s[0]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
}

// appendKey appends "key": for a key known to need no escaping.
func appendKey(b []byte, key string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendFloat appends f as encoding/json writes a float64; NaN and the
// infinities have no JSON form.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errors.New("unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	// Most values are whole numbers: the integer path is far shorter.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		if f == 0 && math.Signbit(f) {
			return append(b, '-', '0'), nil
		}
		return strconv.AppendInt(b, int64(f), 10), nil
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// sortedKeys returns m's keys in order, so the encoding is deterministic
// (as encoding/json's is).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Insertion sort: maps here hold a few keys, and it takes fewer
	// branches than a general sort.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// appendStringMap appends a JSON object of string values, keys sorted.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// Marshaler is what appendValue asks of a type it does not know: time.Time
// and encoding/json's Marshalers have it.
type marshaler interface{ MarshalJSON() ([]byte, error) }

// appendValue appends v, one of the values a report attribute or a D-Bus
// argument may hold: nil, booleans, numbers, strings, Status, time.Time,
// and slices and string-keyed maps of those. Anything else is an error
// wrapping errUnsupported (a JSON Marshaler aside), naming its type.
func appendValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case Status:
		return appendString(b, string(v)), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float64:
		return appendFloat(b, v)
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return appendFloat(b, float64(v))
		}
		return strconv.AppendFloat(b, float64(v), 'g', -1, 32), nil
	case time.Time:
		if y := v.Year(); y < 0 || y >= 10000 {
			return b, errors.New("time " + v.String() + " is outside years 0-9999")
		}
		b = append(b, '"')
		b = v.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	case []string:
		return appendStrings(b, v), nil
	case map[string]string:
		return appendStringMap(b, v), nil
	case []any:
		return appendSlice(b, v, appendValue)
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendValue(b, v[k]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case []map[string]any:
		return appendSlice(b, v, func(b []byte, m map[string]any) ([]byte, error) { return appendValue(b, m) })
	case []int:
		return appendSlice(b, v, func(b []byte, n int) ([]byte, error) { return strconv.AppendInt(b, int64(n), 10), nil })
	case []int64:
		return appendSlice(b, v, func(b []byte, n int64) ([]byte, error) { return strconv.AppendInt(b, n, 10), nil })
	case []uint64:
		return appendSlice(b, v, func(b []byte, n uint64) ([]byte, error) { return strconv.AppendUint(b, n, 10), nil })
	case []float64:
		return appendSlice(b, v, appendFloat)
	case marshaler:
		out, err := v.MarshalJSON()
		if err != nil {
			return b, err
		}
		return append(b, out...), nil
	}
	return b, unsupported{v}
}

func appendSlice[T any](b []byte, list []T, one func([]byte, T) ([]byte, error)) ([]byte, error) {
	if list == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = one(b, v); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// unsupported is the error for a value appendValue cannot write.
type unsupported struct{ v any }

func (e unsupported) Error() string {
	return "a value of an unsupported type cannot be encoded (use booleans, numbers, strings, time.Time, or slices and maps of them)"
}

func (unsupported) Unwrap() error { return errUnsupported }

// appendReport appends the report document of docs/ABI.md.
func appendReport(b []byte, r *Report) ([]byte, error) {
	var err error
	b = append(b, `{"status":`...)
	b = appendString(b, string(r.Status))
	if r.Message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, r.Message)
	}
	b = append(b, `,"metrics":[`...)
	for i := range r.Metrics {
		m := &r.Metrics[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, m.Name)
		if len(m.Labels) > 0 {
			b = append(b, `,"labels":`...)
			b = appendStringMap(b, m.Labels)
		}
		b = append(b, `,"value":`...)
		if b, err = appendFloat(b, m.Value); err != nil {
			return b, errors.New("metrics[" + strconv.Itoa(i) + "] (" + m.Name + "): " + err.Error())
		}
		b = append(b, '}')
	}
	b = append(b, `],"entities":[`...)
	for i := range r.Entities {
		e := &r.Entities[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"kind":`...)
		b = appendString(b, e.Kind)
		b = append(b, `,"id":`...)
		b = appendString(b, e.ID)
		b = append(b, `,"name":`...)
		b = appendString(b, e.Name)
		b = append(b, `,"state":`...)
		b = appendString(b, e.State)
		b = append(b, `,"health":`...)
		b = appendString(b, string(e.Health))
		if len(e.Attrs) > 0 {
			b = append(b, `,"attrs":`...)
			if b, err = appendValue(b, e.Attrs); err != nil {
				return b, errors.New("entities[" + strconv.Itoa(i) + "] (" + e.Kind + " " + e.ID + "): attrs: " + err.Error())
			}
		}
		b = append(b, '}')
	}
	return append(b, ']', '}'), nil
}

// appendError appends the {"error": msg} document.
func appendError(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// encodeError is the {"error": ...} document of err.
func encodeError(err error) []byte { return appendError(nil, err.Error()) }
