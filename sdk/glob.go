package sdk

import (
	"fmt"
	"path"
	"strings"
)

// CheckGlob is the one check of a name pattern in the project (probes'
// filters, the agent's config, alert rules and silences, the portal's
// action grants): path.Match syntax ("web-*", "app-?.service", "[a-c]*"),
// not empty or blank, which would match nothing anyone means.
func CheckGlob(g string) error {
	if strings.TrimSpace(g) == "" {
		return fmt.Errorf("%q is not a valid glob pattern: empty (use * for any name)", g)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob pattern (path.Match syntax: *, ?, [a-z], \\ escapes)", g)
	}
	return nil
}

// MatchGlob reports whether name matches one of globs. A glob CheckGlob
// refuses matches nothing.
func MatchGlob(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
