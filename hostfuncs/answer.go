package hostfuncs

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
)

// MaxAnswer bounds the answers of one host call in bytes: a single answer,
// or a batch's answers in total. A runtime lowers it to what its guest can
// still take (CallWithin); the WASM host passes the room left below the
// guest's max_memory.
const MaxAnswer = 32 << 20

// callBudget bounds what one host call (a batch included) makes on the
// agent's heap, whatever the guest asks for:
//
//   - answers: the bytes of its answers in total, charged before each answer
//     is built (its size is counted first, escaping included, and only then
//     is a buffer of exactly that size allocated);
//   - work: the bytes of raw data (a file's bytes, a body, a program's
//     output) held at once while answers are made from it, charged as the
//     data comes in and given back once its answer is built.
//
// Both start at the guest's room, so a call never holds more than twice what
// its guest could take. Over either is an error to the guest
// (errTooLarge), never an allocation.
type callBudget struct {
	room    int64
	answers atomic.Int64
	work    atomic.Int64
}

func newBudget(room int64) *callBudget {
	room = max(min(room, MaxAnswer), 0)
	b := &callBudget{room: room}
	b.answers.Store(room)
	b.work.Store(room)
	return b
}

// take removes n bytes from a, or reports that fewer are left.
func take(a *atomic.Int64, n int64) bool {
	for {
		left := a.Load()
		if n > left {
			return false
		}
		if a.CompareAndSwap(left, left-n) {
			return true
		}
	}
}

// takeWork charges n bytes of raw data; giveWork returns them.
func (b *callBudget) takeWork(n int64) bool { return take(&b.work, n) }
func (b *callBudget) giveWork(n int64)      { b.work.Add(n) }

// tooLarge is the error for what would go over the budget.
func (b *callBudget) tooLarge(what string) error {
	return fmt.Errorf("too large: %s is over what is left of this call's %d-byte budget (the guest's free memory, at most %d MiB a call and a batch in total)", what, b.room, MaxAnswer>>20)
}

// encode builds an answer: write is run once counting, the size is charged
// to the budget, then run again into a buffer of exactly that size.
func (b *callBudget) encode(what string, write func(w *jsonOut)) ([]byte, error) {
	count := jsonOut{counting: true}
	write(&count)
	if !take(&b.answers, count.n) {
		return nil, b.tooLarge(what)
	}
	w := jsonOut{buf: make([]byte, 0, count.n)}
	write(&w)
	return w.buf, nil
}

// jsonOut writes JSON, or only counts its bytes. Strings are written as
// encoding/json reads them: control characters, '"' and '\' escaped, bytes
// that are not UTF-8 as \ufffd.
type jsonOut struct {
	counting bool
	n        int64
	buf      []byte
}

func (w *jsonOut) raw(s string) {
	w.n += int64(len(s))
	if !w.counting {
		w.buf = append(w.buf, s...)
	}
}

func (w *jsonOut) int(v int64) {
	var b [20]byte
	w.raw(string(strconv.AppendInt(b[:0], v, 10)))
}

func (w *jsonOut) uint(v uint64) {
	var b [20]byte
	w.raw(string(strconv.AppendUint(b[:0], v, 10)))
}

// float writes f as encoding/json would; NaN and infinities, which JSON
// cannot hold, as null.
func (w *jsonOut) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.raw("null")
		return
	}
	var b [32]byte
	w.raw(string(strconv.AppendFloat(b[:0], f, 'g', -1, 64)))
}

func (w *jsonOut) bool(v bool) {
	if v {
		w.raw("true")
	} else {
		w.raw("false")
	}
}

// key writes "k": (k is one of ours: nothing to escape).
func (w *jsonOut) key(k string) {
	w.raw(`"`)
	w.raw(k)
	w.raw(`":`)
}

const hexDigits = "0123456789abcdef"

// escapeExtra[c] is how many more bytes than one the ASCII byte c takes in
// a JSON string: 1 for '"', '\\', \n, \r, \t; 5 for other control
// characters (\u00XX); 0 for the rest, and for bytes past ASCII, which
// str handles apart.
var escapeExtra = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = 5
	}
	for _, c := range []byte{'"', '\\', '\n', '\r', '\t'} {
		t[c] = 1
	}
	return t
}()

// str writes s as a JSON string.
func (w *jsonOut) str(s string) {
	if !utf8.ValidString(s) {
		w.strInvalid(s)
		return
	}
	w.n += 2 + int64(len(s))
	if w.counting {
		extra := 0
		for i := 0; i < len(s); i++ {
			extra += int(escapeExtra[s[i]])
		}
		w.n += int64(extra)
		return
	}
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escapeExtra[c] == 0 {
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		w.buf = appendEscape(w.buf, c)
		w.n += int64(escapeExtra[c])
		start = i + 1
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// strInvalid is str for s that is not valid UTF-8: each byte that is not
// part of a valid sequence becomes \ufffd, as encoding/json reads it.
func (w *jsonOut) strInvalid(s string) {
	w.n += 2
	if !w.counting {
		w.buf = append(w.buf, '"')
	}
	start := 0
	flush := func(end int) {
		w.n += int64(end - start)
		if !w.counting {
			w.buf = append(w.buf, s[start:end]...)
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if escapeExtra[c] != 0 {
				flush(i)
				w.n += 1 + int64(escapeExtra[c])
				if !w.counting {
					w.buf = appendEscape(w.buf, c)
				}
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			flush(i)
			w.n += 6
			if !w.counting {
				w.buf = append(w.buf, `\ufffd`...)
			}
			start = i + 1
		}
		i += size
	}
	flush(len(s))
	if !w.counting {
		w.buf = append(w.buf, '"')
	}
}

// data writes what a file or a body holds: a string when it is text (valid
// UTF-8), else base64 followed by its "encoding" key; and "truncated" when
// more was dropped.
func (w *jsonOut) data(b []byte, text, truncated bool) {
	if text {
		w.str(bytesString(b))
	} else {
		w.base64(b)
		w.raw(`,"encoding":"base64"`)
	}
	if truncated {
		w.raw(`,"truncated":true`)
	}
}

// base64 writes b as a JSON string of its standard base64 encoding.
func (w *jsonOut) base64(b []byte) {
	n := base64.StdEncoding.EncodedLen(len(b))
	w.n += 2 + int64(n)
	if w.counting {
		return
	}
	w.buf = append(w.buf, '"')
	w.buf = base64.StdEncoding.AppendEncode(w.buf, b)
	w.buf = append(w.buf, '"')
}
