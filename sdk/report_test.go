package sdk

import (
	"reflect"
	"strings"
	"testing"
)

func TestRequestDecode(t *testing.T) {
	type config struct {
		Socket  string   `json:"socket"`
		Exclude []string `json:"exclude"`
		Stats   bool     `json:"stats"`
	}
	defaults := config{Socket: "/default", Stats: true}
	for _, tc := range []struct {
		name        string
		cfg         map[string]any
		want        config // when there is no error
		err, strict string // error substrings of Decode and DecodeStrict; "" = none
	}{
		{name: "empty keeps the defaults", want: defaults},
		{name: "keys over the defaults", cfg: map[string]any{"socket": "/s", "exclude": []any{"a*"}},
			want: config{Socket: "/s", Exclude: []string{"a*"}, Stats: true}},
		{name: "unknown key: Decode reads the rest", cfg: map[string]any{"sock": "/s", "stats": false},
			want: config{Socket: "/default"}, strict: `config of probe "p": json: unknown field "sock"`},
		{name: "wrong type", cfg: map[string]any{"stats": "no"},
			err: `config of probe "p": json: cannot unmarshal string`, strict: `config of probe "p": json: cannot unmarshal string`},
		{name: "not JSON", cfg: map[string]any{"f": func() {}},
			err: "config: json: unsupported type", strict: "config: json: unsupported type"},
	} {
		req := Request{Probe: "p", Config: tc.cfg}
		for _, d := range []struct {
			decode  func(any) error
			wantErr string
		}{{req.Decode, tc.err}, {req.DecodeStrict, tc.strict}} {
			got := defaults
			err := d.decode(&got)
			if d.wantErr == "" && err != nil || d.wantErr != "" && (err == nil || !strings.Contains(err.Error(), d.wantErr)) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, d.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			}
		}
	}
}
