package sdk

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON is one value of a parsed JSON document: what a probe reads host
// answers with (an HTTP body, a D-Bus reply) field by field, without
// reflection. In a WASM guest that is several times faster than
// encoding/json and leaves reflection out of the module
// (docs/PERFORMANCE.md, "The guest"):
//
//	doc, err := resp.JSON()              // an HTTP response's body
//	if err != nil { ... }
//	for _, c := range doc.Array() {
//		id := c.Get("Id").Str()
//		health := c.Get("State", "Health", "Status").Str() // "" when absent
//		restarts := c.Get("RestartCount").Int()
//	}
//
// The zero JSON is a missing value: every accessor of a missing value, or
// of a value of another kind, returns the zero value, so a path through
// optional fields needs no checks. Exists and Kind tell them apart.
type JSON struct {
	d *jsonDoc
	i int32
}

// Kind is the kind of a JSON value.
type Kind uint8

// The kinds of JSON values; KindMissing is a value that is not there.
const (
	KindMissing Kind = iota
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// jsonDoc holds a parsed document: every value is a node, children linked
// by index. Strings without escapes and numbers are substrings of src (one
// copy of the input for the whole document).
type jsonDoc struct {
	src   string
	nodes []jsonNode
}

type jsonNode struct {
	kind  Kind
	key   string // the member's key, inside an object
	val   string // a string's value, a number's literal, "true"/"false"
	first int32  // first child of an array or object, -1 if none
	next  int32  // next sibling, -1 if none
	n     int32  // number of children
}

// maxJSONDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxJSONDepth = 512

// ParseJSON parses one JSON document (surrounding white space allowed).
// The error says what is wrong and at which byte offset.
func ParseJSON(data []byte) (JSON, error) { return parseJSON(string(data)) }

func parseJSON(src string) (JSON, error) {
	p := jsonParser{s: src, d: &jsonDoc{src: src, nodes: make([]jsonNode, 0, 4+len(src)/24)}}
	if err := p.parse(); err != nil {
		return JSON{}, err
	}
	return JSON{d: p.d, i: 0}, nil
}

// node returns j's node, or nil for a missing value.
func (j JSON) node() *jsonNode {
	if j.d == nil {
		return nil
	}
	return &j.d.nodes[j.i]
}

// Exists reports whether the value is there (JSON null is).
func (j JSON) Exists() bool { return j.d != nil }

// Kind returns the value's kind.
func (j JSON) Kind() Kind {
	if n := j.node(); n != nil {
		return n.kind
	}
	return KindMissing
}

// Get walks object keys: j.Get("State", "Health") is the "Health" member
// of the "State" member. A key that is not there gives a missing value.
func (j JSON) Get(keys ...string) JSON {
	for _, k := range keys {
		n := j.node()
		if n == nil || n.kind != KindObject {
			return JSON{}
		}
		found := false
		for c := n.first; c >= 0; c = j.d.nodes[c].next {
			if j.d.nodes[c].key == k {
				j.i, found = c, true
				break
			}
		}
		if !found {
			return JSON{}
		}
	}
	return j
}

// Len is the number of elements of an array or members of an object.
func (j JSON) Len() int {
	if n := j.node(); n != nil {
		return int(n.n)
	}
	return 0
}

// Array returns the elements of an array (nil for anything else).
func (j JSON) Array() []JSON {
	n := j.node()
	if n == nil || n.kind != KindArray {
		return nil
	}
	out := make([]JSON, 0, n.n)
	for c := n.first; c >= 0; c = j.d.nodes[c].next {
		out = append(out, JSON{d: j.d, i: c})
	}
	return out
}

// Each calls fn with every member of an object, in document order (for an
// array, with every element and an empty key).
func (j JSON) Each(fn func(key string, v JSON)) {
	n := j.node()
	if n == nil || (n.kind != KindObject && n.kind != KindArray) {
		return
	}
	for c := n.first; c >= 0; c = j.d.nodes[c].next {
		fn(j.d.nodes[c].key, JSON{d: j.d, i: c})
	}
}

// Str returns a string's value ("" for anything else).
func (j JSON) Str() string {
	if n := j.node(); n != nil && n.kind == KindString {
		return n.val
	}
	return ""
}

// Bool returns a boolean's value (false for anything else).
func (j JSON) Bool() bool {
	n := j.node()
	return n != nil && n.kind == KindBool && n.val == "true"
}

// Float returns a number's value (0 for anything else).
func (j JSON) Float() float64 {
	f, _ := j.float()
	return f
}

func (j JSON) float() (float64, bool) {
	n := j.node()
	if n == nil || n.kind != KindNumber {
		return 0, false
	}
	if v, ok := smallInt(n.val); ok {
		return float64(v), true
	}
	f, err := strconv.ParseFloat(n.val, 64)
	return f, err == nil || errors.Is(err, strconv.ErrRange)
}

// Int returns a number's value as an integer, truncated toward zero and
// clamped to the int64 range (0 for anything else).
func (j JSON) Int() int64 {
	n := j.node()
	if n == nil || n.kind != KindNumber {
		return 0
	}
	if v, ok := smallInt(n.val); ok {
		return v
	}
	if v, err := strconv.ParseInt(n.val, 10, 64); err == nil {
		return v
	}
	f, _ := j.float()
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// Uint returns a number's value as an unsigned integer, truncated, and
// clamped to 0 and the uint64 range (0 for anything else). Unlike Float it
// keeps all 64 bits: Docker's and systemd's counters need them.
func (j JSON) Uint() uint64 {
	n := j.node()
	if n == nil || n.kind != KindNumber {
		return 0
	}
	if v, ok := smallInt(n.val); ok {
		return uint64(max(v, 0))
	}
	if v, err := strconv.ParseUint(n.val, 10, 64); err == nil {
		return v
	}
	f, _ := j.float()
	switch {
	case f <= 0:
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(f)
}

// Time returns an RFC 3339 string's time (as Docker writes them; the zero
// time for anything else).
func (j JSON) Time() time.Time {
	t, err := time.Parse(time.RFC3339Nano, j.Str())
	if err != nil {
		return time.Time{}
	}
	return t
}

// Any returns the value as encoding/json decodes into an any: nil, bool,
// float64, string, []any or map[string]any (nil when missing).
func (j JSON) Any() any {
	n := j.node()
	if n == nil {
		return nil
	}
	switch n.kind {
	case KindBool:
		return n.val == "true"
	case KindNumber:
		return j.Float()
	case KindString:
		return n.val
	case KindArray:
		out := make([]any, 0, n.n)
		for c := n.first; c >= 0; c = j.d.nodes[c].next {
			out = append(out, JSON{d: j.d, i: c}.Any())
		}
		return out
	case KindObject:
		out := make(map[string]any, n.n)
		for c := n.first; c >= 0; c = j.d.nodes[c].next {
			out[j.d.nodes[c].key] = JSON{d: j.d, i: c}.Any()
		}
		return out
	}
	return nil
}

// smallInt reads a number literal of at most 18 digits with no fraction or
// exponent, the common case, without strconv.
func smallInt(s string) (int64, bool) {
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int64(c)
	}
	if neg {
		v = -v
	}
	return v, true
}

// jsonParser builds a jsonDoc from its source.
type jsonParser struct {
	s string
	i int // where an error is
	d *jsonDoc
}

// SyntaxError is a JSON document ParseJSON could not read.
type SyntaxError struct {
	Offset int // byte offset of the problem
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

func (p *jsonParser) fail(msg string) error { return &SyntaxError{Offset: p.i, Msg: msg} }

func (p *jsonParser) failAt(i int, msg string) error {
	p.i = i
	return p.fail(msg)
}

// skipSpace returns the index of the first byte at or after i that is not
// white space.
func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// container is an array or object being filled: its node and its last
// child so far.
type container struct{ self, last int32 }

// parse reads the one value of p.s and the white space around it. It is one
// loop over the values with a stack of the containers they go in, rather
// than a function per kind calling itself: in a WASM guest under the
// agent's hard timeouts each call and each branch taken leaves machine code
// for the host, so fewer of them is what makes it fast.
func (p *jsonParser) parse() error {
	s := p.s
	nodes := p.d.nodes
	var stack []container
	key := ""
	i := 0
	for {
		// A value starts at i, after white space.
		if i < len(s) && s[i] <= ' ' {
			i = skipSpace(s, i)
		}
		if i >= len(s) {
			return p.failAt(i, "unexpected end of input")
		}
		n := jsonNode{key: key, first: -1, next: -1}
		switch c := s[i]; {
		case c == '"':
			// The common case inline: a string without escapes, found
			// eight bytes at a time.
			j := i + 1
			for ; j+8 <= len(s); j += 8 {
				if m := decodeSpecial(load8(s, j)); m != 0 {
					j += bits.TrailingZeros64(m) / 8
					break
				}
			}
			if j < len(s) && s[j] == '"' {
				n.kind, n.val, i = KindString, s[i+1:j], j+1
				break
			}
			str, end, err := p.str(i)
			if err != nil {
				return err
			}
			n.kind, n.val, i = KindString, str, end
		case c == '{' || c == '[':
			if len(stack) >= maxJSONDepth {
				return p.failAt(i, "nested too deep")
			}
			n.kind = KindArray
			if c == '{' {
				n.kind = KindObject
			}
			i++
		case c == 't' || c == 'f' || c == 'n':
			word, kind := "null", KindNull
			if c == 't' {
				word, kind = "true", KindBool
			} else if c == 'f' {
				word, kind = "false", KindBool
			}
			if len(s)-i < len(word) || s[i:i+len(word)] != word {
				return p.failAt(i, "invalid literal")
			}
			n.kind, n.val = kind, word
			i += len(word)
		default:
			end, err := p.number(i)
			if err != nil {
				return err
			}
			n.kind, n.val, i = KindNumber, s[i:end], end
		}
		self := int32(len(nodes))
		nodes = append(nodes, n)
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.last < 0 {
				nodes[top.self].first = self
			} else {
				nodes[top.last].next = self
			}
			top.last = self
			nodes[top.self].n++
		}
		if n.kind == KindArray || n.kind == KindObject {
			stack = append(stack, container{self: self, last: -1})
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if n.kind == KindArray {
				if i < len(s) && s[i] == ']' {
					i++
					stack = stack[:len(stack)-1]
				} else {
					key = ""
					continue // its first element
				}
			} else if i < len(s) && s[i] == '}' {
				i++
				stack = stack[:len(stack)-1]
			} else {
				k, end, err := p.key(i)
				if err != nil {
					return err
				}
				key, i = k, end
				continue // its first member's value
			}
		}
		// After a value: a ',' and the next one, the end of containers, or
		// the end of the document.
		for {
			if i < len(s) && s[i] <= ' ' {
				i = skipSpace(s, i)
			}
			if len(stack) == 0 {
				if i != len(s) {
					return p.failAt(i, "data after the top-level value")
				}
				p.d.nodes = nodes
				return nil
			}
			top := stack[len(stack)-1]
			object := nodes[top.self].kind == KindObject
			if i >= len(s) {
				if object {
					return p.failAt(i, "unterminated object")
				}
				return p.failAt(i, "unterminated array")
			}
			c := s[i]
			if c == ',' {
				i++
				break
			}
			if object && c == '}' || !object && c == ']' {
				i++
				stack = stack[:len(stack)-1]
				continue
			}
			if object {
				return p.failAt(i, "want ',' or '}' in an object")
			}
			return p.failAt(i, "want ',' or ']' in an array")
		}
		key = ""
		if nodes[stack[len(stack)-1].self].kind == KindObject {
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			k, end, err := p.key(i)
			if err != nil {
				return err
			}
			key, i = k, end
		}
	}
}

// key reads a member's key at i and the ':' after it; end is past the ':'
// and any white space.
func (p *jsonParser) key(i int) (key string, end int, err error) {
	s := p.s
	if i >= len(s) || s[i] != '"' {
		return "", 0, p.failAt(i, "want a string key")
	}
	if key, i, err = p.str(i); err != nil {
		return "", 0, err
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i >= len(s) || s[i] != ':' {
		return "", 0, p.failAt(i, "want ':' after a key")
	}
	i++
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return key, i, nil
}

// digitsEnd is the index of the first byte at or after i that is not a
// decimal digit, eight bytes at a time.
func digitsEnd(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		x := load8(s, i)
		// A byte is a digit when x-'0' does not borrow and x+('9'+1-0x80)
		// does not reach 0x80.
		if m := ((x - lsb*'0') | (x + lsb*(0x80-'9'-1)) | x) & msb; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && s[i]-'0' <= 9 {
		i++
	}
	return i
}

// number reads the number at i and returns where it ends.
func (p *jsonParser) number(i int) (int, error) {
	s := p.s
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := i
	i = digitsEnd(s, i)
	if i == digits || (s[digits] == '0' && i-digits > 1) {
		return 0, p.failAt(start, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		if i = digitsEnd(s, i); i == frac {
			return 0, p.failAt(i, "invalid number: no digit after the point")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		if i = digitsEnd(s, i); i == exp {
			return 0, p.failAt(i, "invalid number: no digit in the exponent")
		}
	}
	return i, nil
}

// decodeSpecial marks the bytes that end the plain run of a JSON string:
// '"', '\\', control characters, and non-ASCII bytes (checked as UTF-8).
func decodeSpecial(x uint64) uint64 { return encodeSpecial(x) }

// str reads the string whose opening quote is at p.s[at] and returns its
// value and the index after its closing quote.
func (p *jsonParser) str(at int) (string, int, error) {
	s := p.s
	start := at + 1
	i := start
	for ; i+8 <= len(s); i += 8 {
		if m := decodeSpecial(load8(s, i)); m != 0 {
			i += bits.TrailingZeros64(m) / 8
			if s[i] == '"' {
				return s[start:i], i + 1, nil
			}
			return p.escaped(start, i)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	if i < len(s) && s[i] == '"' {
		return s[start:i], i + 1, nil
	}
	return p.escaped(start, i)
}

// escaped finishes a string with escapes or non-ASCII text: start is after
// the opening quote, i at the first byte that needs attention.
func (p *jsonParser) escaped(start, i int) (string, int, error) {
	s := p.s
	b := make([]byte, 0, i-start+16)
	b = append(b, s[start:i]...)
	for {
		if i >= len(s) {
			return "", 0, p.failAt(i, "unterminated string")
		}
		c := s[i]
		switch {
		case c == '"':
			return string(b), i + 1, nil
		case c < 0x20:
			return "", 0, p.failAt(i, "control character in a string")
		case c >= utf8.RuneSelf:
			// Invalid UTF-8 becomes U+FFFD, as with encoding/json.
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", 0, p.failAt(i, "unterminated string")
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", 0, p.failAt(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", 0, p.failAt(i, "invalid escape")
		}
		i += 2
	}
}

// hex4 reads four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
