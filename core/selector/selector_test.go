package selector

import (
	"maps"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Selector
		err  string
	}{
		{in: "system.cpu.percent", want: Selector{Name: "system.cpu.percent"}},
		{in: " system.load.1 ", want: Selector{Name: "system.load.1"}},
		{in: `system.disk.used_percent{mount="/"}`, want: Selector{Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/"}}},
		{in: `d{mount="/", device="sda"}`, want: Selector{Name: "d", Labels: map[string]string{"mount": "/", "device": "sda"}}},
		{in: `d{ mount = "/x,y}" ,}`, want: Selector{Name: "d", Labels: map[string]string{"mount": "/x,y}"}}},
		{in: `d{a="q\"uote\\d"}`, want: Selector{Name: "d", Labels: map[string]string{"a": `q"uote\d`}}},
		{in: `d{a=""}`, want: Selector{Name: "d", Labels: map[string]string{"a": ""}}},
		{in: `d{}`, want: Selector{Name: "d", Labels: map[string]string{}}},
		{in: `d{a="é"}`, want: Selector{Name: "d", Labels: map[string]string{"a": "é"}}},
		{in: `d{probe="system",a="b"}`, want: Selector{Name: "d", Probe: "system", Labels: map[string]string{"a": "b"}}},
		{in: "", err: "empty series name"},
		{in: `{a="b"}`, err: "empty series name"},
		{in: "a b", err: "invalid character"},
		{in: `d{a="b"`, err: "missing closing }"},
		{in: `d{a}`, err: `want key="value"`},
		{in: `d{a=b}`, err: "double quoted"},
		{in: `d{a="b}`, err: "unterminated"},
		{in: `d{a="b" c="d"}`, err: "want , between"},
		{in: `d{a="b",a="c"}`, err: "given twice"},
		{in: `d{probe="x",probe="y"}`, err: "given twice"},
		{in: `d{probe=""}`, err: `d{probe=""} names no probe`},
		{in: `d{="b"}`, err: "empty label name"},
		{in: `d{a b="c"}`, err: "invalid character"},
		{in: `d{a="\q"}`, err: "unknown escape"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.Probe != tt.want.Probe || !maps.Equal(got.Labels, tt.want.Labels) || (got.Labels == nil) != (tt.want.Labels == nil) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	sel, err := Parse(`system.disk.used_percent{mount="/",device=""}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		probe, name string
		labels      map[string]string
		want        bool
	}{
		{"system", "system.disk.used_percent", map[string]string{"mount": "/"}, true},
		{"other", "system.disk.used_percent", map[string]string{"mount": "/", "x": "y"}, true},
		{"system", "system.disk.used_percent", map[string]string{"mount": "/", "device": "sda1"}, false},
		{"system", "system.disk.used_percent", map[string]string{"mount": "/home"}, false},
		{"system", "system.disk.free_bytes", map[string]string{"mount": "/"}, false},
	} {
		if got := sel.Matches(tt.probe, tt.name, tt.labels); got != tt.want {
			t.Errorf("Matches(%s, %s, %v) = %t, want %t", tt.probe, tt.name, tt.labels, got, tt.want)
		}
	}
	sel.Probe = "system"
	if sel.Matches("other", "system.disk.used_percent", map[string]string{"mount": "/"}) {
		t.Error("probe=system matched another probe's series")
	}
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"a":                           "a",
		`a{}`:                         "a",
		`a{z="1", probe="p", b="\""}`: `a{b="\"",probe="p",z="1"}`,
		`a{b="x\ny\tz\\"}`:            `a{b="x\ny\tz\\"}`,
	} {
		sel, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse checks what Parse accepts: a valid name, no empty label
// name, no probe among the labels, and a String that parses back to the
// same selector.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a", `a{b="c"}`, `system.disk.used_percent{mount="/",device="sda1"}`, `a{b="\"\\\n\t"}`,
		`a{`, `a{}`, `a{b=}`, `a{b="c",}`, `a{b="c"`, `{b="c"}`, `a{b="c" d="e"}`, `a{b="c",b="d"}`, `a{b="\x"}`, "a{b=\"\xff\"}",
		`a{probe="p"}`, `a{probe=""}`, `a{probe="p",probe="q"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			return
		}
		if !ValidName(sel.Name) {
			t.Fatalf("Parse(%q): bad name %q", s, sel.Name)
		}
		for k := range sel.Labels {
			if !ValidName(k) || k == ProbeLabel {
				t.Fatalf("Parse(%q): label name %q", s, k)
			}
		}
		again, err := Parse(sel.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, sel.String(), err)
		}
		if again.Name != sel.Name || again.Probe != sel.Probe || !maps.Equal(again.Labels, sel.Labels) {
			t.Fatalf("Parse(%q) = %+v, round trip %+v", s, sel, again)
		}
	})
}
