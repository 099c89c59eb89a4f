package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

func TestParseJSON(t *testing.T) {
	j, err := ParseJSON([]byte(` {"a": {"b": [1, -2.5e3, "x\"\u00e9\ud83d\ude00", true, false, null]}, "n": 18446744073709551615, "i": -9, "t": "2024-01-02T03:04:05.5Z", "e": {}} `))
	if err != nil {
		t.Fatal(err)
	}
	arr := j.Get("a", "b").Array()
	if len(arr) != 6 || arr[0].Int() != 1 || arr[1].Float() != -2500 || arr[1].Int() != -2500 ||
		arr[2].Str() != "x\"é😀" || !arr[3].Bool() || arr[4].Bool() || arr[5].Kind() != KindNull {
		t.Errorf("array = %v", j.Get("a", "b").Any())
	}
	if j.Get("n").Uint() != math.MaxUint64 || j.Get("i").Int() != -9 || j.Get("i").Uint() != 0 {
		t.Errorf("numbers: %d %d %d", j.Get("n").Uint(), j.Get("i").Int(), j.Get("i").Uint())
	}
	if got := j.Get("t").Time(); !got.Equal(time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
		t.Errorf("time = %v", got)
	}
	if j.Get("e").Kind() != KindObject || j.Get("e").Len() != 0 || j.Get("nope").Exists() || j.Get("a", "b", "c").Exists() {
		t.Error("missing values")
	}
	// A missing value answers every accessor with a zero value.
	var m JSON
	if m.Str() != "" || m.Int() != 0 || m.Uint() != 0 || m.Float() != 0 || m.Bool() || m.Array() != nil || m.Len() != 0 || m.Any() != nil || !m.Time().IsZero() {
		t.Error("the zero JSON is not empty")
	}
	var keys []string
	j.Each(func(k string, _ JSON) { keys = append(keys, k) })
	if strings.Join(keys, ",") != "a,n,i,t,e" {
		t.Errorf("keys in order: %v", keys)
	}

	for _, bad := range []struct{ in, msg string }{
		{``, "invalid JSON at byte 0: unexpected end of input"},
		{`{"a":1,}`, "invalid JSON at byte 7: want a string key"},
		{`[1 2]`, "invalid JSON at byte 3: want ',' or ']' in an array"},
		{`"abc`, "invalid JSON at byte 4: unterminated string"},
		{"\"a\tb\"", "invalid JSON at byte 2: control character in a string"},
		{`"\x"`, "invalid JSON at byte 1: invalid escape"},
		{`01`, "invalid JSON at byte 0: invalid number"},
		{`1.`, "invalid JSON at byte 2: invalid number: no digit after the point"},
		{`tru`, "invalid JSON at byte 0: invalid literal"},
		{`{} {}`, "invalid JSON at byte 3: data after the top-level value"},
		{strings.Repeat("[", 600) + strings.Repeat("]", 600), "invalid JSON at byte 512: nested too deep"},
	} {
		if _, err := ParseJSON([]byte(bad.in)); err == nil || err.Error() != bad.msg {
			t.Errorf("ParseJSON(%.20q) = %v, want %s", bad.in, err, bad.msg)
		}
	}
}

// FuzzParseJSON holds ParseJSON to encoding/json: it accepts exactly what
// json.Valid does (within its nesting bound), and Any gives what
// json.Unmarshal into an any gives.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"d\n\u0041"}`, `[]`, `-0.5e-3`, `"\ud800"`, `"\ud83d\ude00x"`, `{"a":1,"a":2}`, "\"\xff\"", ` 1 `, `[1,]`, `{"x":tru}`, `1e400`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJSON(b)
		if d, ok := depthOf(b); ok && d > maxJSONDepth {
			return
		}
		if (err == nil) != json.Valid(b) {
			t.Fatalf("%q: ParseJSON error %v, json.Valid %v", b, err, json.Valid(b))
		}
		if err != nil {
			return
		}
		var want any
		if err := json.Unmarshal(b, &want); err != nil {
			if strings.Contains(err.Error(), "cannot unmarshal number") { // 1e400: encoding/json refuses, we take ±Inf
				return
			}
			t.Fatalf("%q: %v", b, err)
		}
		if got := j.Any(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Any() = %#v, encoding/json %#v", b, got, want)
		}
	})
}

// depthOf is how deep b's arrays and objects nest, strings aside.
func depthOf(b []byte) (int, bool) {
	d, m := 0, 0
	in, esc := false, false
	for _, c := range b {
		switch {
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == '[' || c == '{'):
			d++
			m = max(m, d)
		case !in && (c == ']' || c == '}'):
			d--
		}
	}
	return m, true
}

// FuzzAppendString: every string encodes to a JSON string that
// encoding/json decodes to the same text (invalid UTF-8 as U+FFFD, as
// encoding/json itself does), and ParseJSON agrees.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01 del\x7f", "é😀", "\xff\xfe", "\u2028", strings.Repeat("abcdefgh", 5) + "\"" + strings.Repeat("x", 9)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendString(nil, s)
		want, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(enc, &a); err != nil {
			t.Fatalf("%q encodes to %s: %v", s, enc, err)
		}
		json.Unmarshal(want, &b)
		if a != b {
			t.Fatalf("%q: ours %s decodes to %q, encoding/json's %s to %q", s, enc, a, want, b)
		}
		j, err := ParseJSON(enc)
		if err != nil || j.Str() != a {
			t.Fatalf("%q: ParseJSON(%s) = %q, %v", s, enc, j.Str(), err)
		}
	})
}

// TestReportMatchesEncodingJSON: the report encoder writes what
// encoding/json writes for the same report, byte for byte (apart from
// HTML escaping, which encoding/json adds and JSON does not need).
func TestReportMatchesEncodingJSON(t *testing.T) {
	r := Report{Status: StatusWarn, Message: "3 <units> & \"more\"", Metrics: []Metric{
		{Name: "a.b", Value: 1},
		{Name: "a.c", Labels: map[string]string{"z": "1", "a": "2", "m": "é"}, Value: -0.000123},
		{Name: "a.d", Value: 1.5e300},
		{Name: "a.e", Value: 123456789012345678},
		{Name: "a.f", Value: 1e-7},
		{Name: "a.g", Value: math.Copysign(0, -1)},
	}, Entities: []Entity{
		{Kind: "unit", ID: "x", Name: "x", State: "active", Health: StatusOK},
		{Kind: "c", ID: "y", Attrs: map[string]any{
			"s": "v", "i": 3, "u": uint64(math.MaxUint64), "f": 2.5, "b": true, "n": nil,
			"l": []string{"a", "b"}, "m": map[string]string{"k": "v"}, "t": time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC),
			"any": []any{1.0, "x", map[string]any{"q": []int{1, 2}}}, "i64": int64(-5), "f32": float32(0.1),
			"maps": []map[string]any{{"a": 1}}, "fs": []float64{0.5}, "u64s": []uint64{7}, "i64s": []int64{-7}, "h": StatusCrit,
		}},
	}}
	got, err := appendReport(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(r)
	want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !bytes.Equal(got, want) {
		t.Errorf("appendReport:\n got %s\nwant %s", got, want)
	}
	var back Report
	if err := abi.DecodeReport(got, 0, &back); err != nil {
		t.Errorf("the host refuses it: %v", err)
	}

	bad := Report{Metrics: []Metric{{Name: "x", Value: math.NaN()}}}
	if _, err := appendReport(nil, &bad); err == nil || err.Error() != "metrics[0] (x): unsupported value: NaN" {
		t.Errorf("NaN: %v", err)
	}
	type opaque struct{ A int }
	bad = Report{Entities: []Entity{{Kind: "k", ID: "i", Attrs: map[string]any{"o": opaque{1}}}}}
	if _, err := appendReport(nil, &bad); err == nil || !strings.HasPrefix(err.Error(), "entities[0] (k i): attrs: a value of an unsupported type") {
		t.Errorf("struct attr: %v", err)
	}
	if _, err := appendValue(nil, opaque{}); !errors.Is(err, errUnsupported) {
		t.Errorf("errors.Is(errUnsupported) = false: %v", err)
	}
}

// TestWireMatchesEncodingJSON: the requests the SDK writes decode, with
// encoding/json, to the same values the host's types hold.
func TestWireMatchesEncodingJSON(t *testing.T) {
	same := func(name string, ours []byte, v any) {
		t.Helper()
		want, _ := json.Marshal(v)
		var a, b any
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Fatalf("%s: %s: %v", name, ours, err)
		}
		json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\n ours %s\n want %s", name, ours, want)
		}
	}
	for _, r := range []ExecRequest{{}, {Argv: []string{"tmux", "ls"}, TimeoutMS: 5}} {
		same("exec", r.appendJSON(nil), r)
	}
	for _, r := range []HTTPRequest{{URL: "/x"}, {Socket: "/s", Method: "POST", URL: "http://d/x", Headers: map[string]string{"A": "b"}, Body: "{}", TimeoutMS: 9, Fields: []string{"Id"}}} {
		same("http", r.appendJSON(nil), r)
	}
	for _, r := range []DBusRequest{{Destination: "d", Path: "/p", Interface: "i", Member: "m"}, {Bus: "session", Destination: "d", Path: "/p", Interface: "i", Member: "m", Signature: "ss", Args: []any{"a", 1.5, true, []string{"x"}}}} {
		b, err := r.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		same("dbus", b, r)
	}
	for _, r := range []abi.ReadFileRequest{{Path: "/p"}, {Path: "/p", MaxBytes: 10}} {
		same("read_file", appendReadFileRequest(nil, r), r)
	}
	same("stat", appendStatRequest(nil, abi.StatRequest{Path: "/p \"q\""}), abi.StatRequest{Path: "/p \"q\""})
	infos := []Info{{Name: "a", Version: "1", Description: "d", Stateful: true}, {Name: "b"}}
	want, _ := abi.EncodeDescription(infos)
	same("describe", encodeDescription(infos), json.RawMessage(want))
	same("error", encodeError(errors.New("a \"b\"")), abi.ErrorResponse{Error: "a \"b\""})
	same("batch", appendBatch(nil, [][]byte{[]byte(`{"url":"/a"}`), []byte(`{"url":"/b"}`)}, 7),
		abi.BatchRequest[json.RawMessage]{Batch: []json.RawMessage{[]byte(`{"url":"/a"}`), []byte(`{"url":"/b"}`)}, TimeoutMS: 7})
}

// TestDecodeResponses: the host's answers, encoded by encoding/json from
// the host's types, read back to the same values.
func TestDecodeResponses(t *testing.T) {
	parse := func(v any) JSON {
		b, _ := json.Marshal(v)
		j, err := ParseJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	exec := ExecResponse{ExitCode: 2, Stdout: "o", Stderr: "e", Truncated: true}
	if got := decodeExecResponse(parse(exec)); got != exec {
		t.Errorf("exec = %+v", got)
	}
	h := HTTPResponse{Status: 404, Headers: map[string]string{"Content-Type": "x"}, Body: "b", Encoding: "base64", Truncated: true}
	if got := decodeHTTPResponse(parse(h)); !reflect.DeepEqual(got, h) {
		t.Errorf("http = %+v", got)
	}
	rf := abi.ReadFileResponse{Data: "d", Encoding: "base64", Truncated: true, Entries: []abi.DirEntry{{Name: "a", Type: "dir"}, {Name: "b", Type: "file", Size: 1 << 40, MTimeNS: 1764720000123456789}}}
	if got := decodeReadFileResponse(parse(rf)); !reflect.DeepEqual(got, rf) {
		t.Errorf("read_file = %+v", got)
	}
	fi := abi.FileInfo{Name: "a", Type: "file", Size: 1 << 40, Mode: 0o4755, MTimeNS: 1764720000123456789}
	if got := decodeFileInfo(parse(fi)); got != fi {
		t.Errorf("stat = %+v", got)
	}
	d := decodeDBusResponse(parse(DBusResponse{Body: []any{"x", 1.0, []any{true}}}))
	if !reflect.DeepEqual(d.Values(), []any{"x", 1.0, []any{true}}) || d.JSON().Array()[1].Int() != 1 {
		t.Errorf("dbus = %v", d.Values())
	}
}

// BenchmarkCodec compares the SDK's codec with encoding/json natively, on
// the systemd probe's golden report (encoding) and a recorded ListUnits
// reply (decoding). In a WASM guest the gap is wider: see
// docs/PERFORMANCE.md, "The guest".
func BenchmarkCodec(b *testing.B) {
	golden, err := readTestdata("../plugins/systemd/testdata/report.golden.json")
	if err != nil {
		b.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(golden, &r); err != nil {
		b.Fatal(err)
	}
	b.Run("encode/sdk", func(b *testing.B) {
		for b.Loop() {
			appendReport(nil, &r)
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("decode/sdk", func(b *testing.B) {
		b.SetBytes(int64(len(golden)))
		for b.Loop() {
			ParseJSON(golden)
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(golden)))
		for b.Loop() {
			var v any
			json.Unmarshal(golden, &v)
		}
	})
}

func readTestdata(file string) ([]byte, error) { return os.ReadFile(file) }
