package sdk

import "fmt"

// NameFilter is the name filter most probes offer in their config: keep
// the things whose name matches one of Patterns (all of them when it is
// empty), then drop those matching one of Exclude. Both hold path.Match
// globs ("web-*", "app-*.service"). Embed it in a probe's config struct to
// get the "patterns" and "exclude" keys.
type NameFilter struct {
	Patterns []string `json:"patterns"`
	Exclude  []string `json:"exclude"`
}

// Check reports the first glob that is empty or malformed, naming its key.
func (f NameFilter) Check() error {
	for _, set := range []struct {
		key   string
		globs []string
	}{{"patterns", f.Patterns}, {"exclude", f.Exclude}} {
		for _, g := range set.globs {
			if err := CheckGlob(g); err != nil {
				return fmt.Errorf("%s: %w", set.key, err)
			}
		}
	}
	return nil
}

// Keeps reports whether the filter keeps name.
func (f NameFilter) Keeps(name string) bool {
	if len(f.Patterns) > 0 && !MatchGlob(f.Patterns, name) {
		return false
	}
	return !MatchGlob(f.Exclude, name)
}

// Read reads the "patterns" and "exclude" keys into the filter.
func (f *NameFilter) Read(s *Settings) {
	s.Strings("patterns", &f.Patterns)
	s.Strings("exclude", &f.Exclude)
}
