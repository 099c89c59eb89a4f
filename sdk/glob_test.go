package sdk

import (
	"path"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	for g, want := range map[string]string{
		"web-*": "", "app-?.service": "", "[a-c]*": "", `\*`: "",
		"": "empty", "  ": "empty", "[a": "path.Match syntax", `a\`: "path.Match syntax",
	} {
		err := CheckGlob(g)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("CheckGlob(%q) = %v, want %q", g, err, want)
		}
	}
	globs := []string{"web-*", "[a", "db"}
	for name, want := range map[string]bool{"web-1": true, "db": true, "dbx": false, "[a": false} {
		if got := MatchGlob(globs, name); got != want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", globs, name, got, want)
		}
	}
}

// FuzzGlob: a pattern CheckGlob accepts matches as path.Match says, and a
// pattern without meta characters matches itself alone.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{"web-*", "a?c", "[a-c]x", `\*`, "[a", "", " ", "[^a]", "*/*"} {
		f.Add(s, "web-1")
	}
	f.Fuzz(func(t *testing.T, g, name string) {
		if CheckGlob(g) != nil {
			if MatchGlob([]string{g}, name) && strings.TrimSpace(g) != "" {
				t.Fatalf("refused %q matched %q", g, name)
			}
			return
		}
		want, _ := path.Match(g, name)
		if MatchGlob([]string{g}, name) != want {
			t.Fatalf("MatchGlob(%q, %q) != path.Match", g, name)
		}
		if !strings.ContainsAny(g, `*?[\`) && !MatchGlob([]string{g}, g) {
			t.Fatalf("literal %q does not match itself", g)
		}
	})
}
