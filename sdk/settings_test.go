package sdk

import "testing"

func TestSettings(t *testing.T) {
	type cfg struct {
		s     string
		b     bool
		i     int
		f     float64
		list  []string
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
		c.match.Read(st)
		return c, st.Err()
	}
	c, err := read(map[string]any{"s": "x", "b": true, "i": 3.0, "f": int64(2), "list": []any{"a"}, "patterns": []string{"w*"}})
	if err != nil || c.s != "x" || !c.b || c.i != 3 || c.f != 2 || len(c.list) != 1 || c.match.Patterns[0] != "w*" {
		t.Errorf("read = %+v, %v", c, err)
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
		{map[string]any{"x": 1, "s": "ok"}, `config of probe "p": unknown key "x" (it has b, exclude, f, i, list, patterns, s)`},
		{map[string]any{"y": 1, "x": 1}, `config of probe "p": unknown keys "x", "y" (it has b, exclude, f, i, list, patterns, s)`},
	} {
		if _, err := read(tc.m); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %s", tc.m, err, tc.want)
		}
	}
}
