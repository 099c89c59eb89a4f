package sdk

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNameFilter(t *testing.T) {
	f := NameFilter{Patterns: []string{"web-*", "db"}, Exclude: []string{"*-canary"}}
	for name, want := range map[string]bool{"web-1": true, "db": true, "web-canary": false, "cache": false} {
		if got := f.Keeps(name); got != want {
			t.Errorf("Keeps(%q) = %v, want %v", name, got, want)
		}
	}
	if !(NameFilter{}).Keeps("anything") || (NameFilter{Exclude: []string{"*"}}).Keeps("x") {
		t.Error("an empty filter keeps all; exclude * keeps none")
	}
	for f, want := range map[*NameFilter]string{
		{Patterns: []string{"a["}}: `patterns: "a[" is not a valid glob`,
		{Exclude: []string{""}}:    `exclude: "" is not a valid glob`,
		{Exclude: []string{" "}}:   `exclude: " " is not a valid glob`,
	} {
		if err := f.Check(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Check(%+v) = %v, want %q", *f, err, want)
		}
	}
	// Embedded in a probe's config, it gives the keys patterns and exclude.
	var cfg struct {
		Socket string `json:"socket"`
		NameFilter
	}
	req := Request{Probe: "p", Config: map[string]any{"socket": "/s", "patterns": []any{"x*"}, "exclude": []any{"xy"}}}
	if err := req.DecodeStrict(&cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(cfg); string(b) != `{"socket":"/s","patterns":["x*"],"exclude":["xy"]}` {
		t.Errorf("decoded %s", b)
	}
}
