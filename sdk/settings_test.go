package sdk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSettings(t *testing.T) {
	type cfg struct {
		s     string
		b     bool
		i     int
		f     float64
		list  []string
		d     time.Duration
		match NameFilter
	}
	read := func(m map[string]any) (cfg, error) {
		c := cfg{s: "default", i: 7}
		st := Request{Probe: "p", Config: m}.Settings()
		st.String("s", &c.s)
		st.Bool("b", &c.b)
		st.Int("i", &c.i)
		st.Float("f", &c.f)
		st.Strings("list", &c.list)
		st.Duration("d", &c.d)
		c.match.Read(st)
		return c, st.Err()
	}
	c, err := read(map[string]any{"s": "x", "b": true, "i": 3.0, "f": int64(2), "list": []any{"a"}, "patterns": []string{"w*"}})
	if err != nil || c.s != "x" || !c.b || c.i != 3 || c.f != 2 || len(c.list) != 1 || c.match.Patterns[0] != "w*" {
		t.Errorf("read = %+v, %v", c, err)
	}
	for v, want := range map[any]time.Duration{"1w2d": 9 * 24 * time.Hour, 1.5: 1500 * time.Millisecond, int64(3): 3 * time.Second} {
		if c, err := read(map[string]any{"d": v}); err != nil || c.d != want {
			t.Errorf("d = %v: %v, %v; want %v", v, c.d, err, want)
		}
	}
	if c, err := read(nil); err != nil || c.s != "default" || c.i != 7 {
		t.Errorf("defaults = %+v, %v", c, err)
	}
	for _, tc := range []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"i": 1.5}, `config of probe "p": i: want a whole number, got a number`},
		{map[string]any{"s": false}, `config of probe "p": s: want a string, got a boolean`},
		{map[string]any{"list": "a"}, `config of probe "p": list: want a list of strings, got the string "a"`},
		{map[string]any{"d": "15 seconds"}, `config of probe "p": d: bad duration "15 seconds": a space inside; write a number and a unit with no space, the units ns, us, ms, s, m, h, d (24h) and w (7d), like 30s, 1h30m, 7d or 2w`},
		{map[string]any{"d": -1}, `config of probe "p": d: bad duration: -1 seconds is negative or longer than 106751d`},
		{map[string]any{"d": true}, `config of probe "p": d: want a duration such as "30s" or a number of seconds, got a boolean`},
		{map[string]any{"x": 1, "s": "ok"}, `config of probe "p": unknown key "x" (it has b, d, exclude, f, i, list, patterns, s)`},
		{map[string]any{"y": 1, "x": 1}, `config of probe "p": unknown keys "x", "y" (it has b, d, exclude, f, i, list, patterns, s)`},
	} {
		if _, err := read(tc.m); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %s", tc.m, err, tc.want)
		}
	}
}

func TestSettingsCheck(t *testing.T) {
	bad := errors.New("bus must be system, session or an address")
	st := Request{Probe: "p", Config: map[string]any{"bus": "x"}}.Settings()
	var bus string
	st.String("bus", &bus)
	err := st.Check(func() error { return bad })
	if err == nil || err.Error() != `config of probe "p": bus must be system, session or an address` || !errors.Is(err, bad) {
		t.Errorf("Check = %v", err)
	}
	st = Request{Probe: "p", Config: map[string]any{"buss": "x"}}.Settings()
	st.String("bus", &bus)
	if err := st.Check(func() error { t.Error("check ran after a config error"); return nil }); err == nil || !strings.Contains(err.Error(), `unknown key "buss"`) {
		t.Errorf("Check with a misspelt key = %v", err)
	}
	if err := (Request{Probe: "p"}).Settings().Check(nil); err != nil {
		t.Errorf("Check(nil) = %v", err)
	}
}
