package scaffold

import (
	"fmt"
	"strings"
)

// watData is one static data segment of a WAT probe: the JSON text the
// probe hands out as is, where it lies in memory and how long it is.
type watData struct {
	Off, Len int
	Lit      string // the text as a WAT string literal's content
}

// layoutWAT places the WAT probe's static data in memory, one segment
// after another from offset 64, each at a 16-byte boundary, and the heap
// at the next 1 KiB boundary: the name's length moves everything, so the
// offsets and lengths are computed, never written by hand.
func (d *data) layoutWAT() {
	segments := []struct{ key, text string }{
		{"describe", fmt.Sprintf(`{"probes":[{"name":%q,"version":"0.1.0","description":"seconds since boot, from /proc/uptime"}]}`, d.Name)},
		{"request", `{"path":"/proc/uptime","max_bytes":128}`},
		{"key", `"data":"`},
		{"prefix", fmt.Sprintf(`{"status":"ok","message":"read by a probe written in WAT","metrics":[{"name":"%s.uptime_seconds","value":`, d.Metric)},
		{"suffix", `}],"entities":[]}`},
		{"log", "reading /proc/uptime"},
		{"error", `{"error":"/proc/uptime: no number in its data"}`},
	}
	d.D = map[string]watData{}
	off := 64
	for _, s := range segments {
		w := watData{Off: off, Len: len(s.text), Lit: watLiteral(s.text)}
		d.Data = append(d.Data, w)
		d.D[s.key] = w
		off = (off + w.Len + 15) &^ 15
	}
	d.Heap = max(1024, (off+1023)&^1023)
}

// watLiteral escapes text for a WAT string: '"' and '\' with a backslash,
// anything outside printable ASCII as \hh.
func watLiteral(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
