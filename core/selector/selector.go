// Package selector parses and matches series selectors, the way the query
// API's series parameter and an [[alert]] rule's series key name series:
// NAME or NAME{label="value",...}, where the matcher probe names the probe
// that reported the series.
//
//	sel, err := selector.Parse(`system.disk.used_percent{mount="/",probe="system"}`)
//	if err != nil { ... }
//	sel.Matches("system", "system.disk.used_percent", map[string]string{"mount": "/", "device": "sda1"}) // true
package selector

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// ProbeLabel is the matcher that names the probe a series belongs to.
const ProbeLabel = "probe"

// Selector names series: those called Name, reported by Probe (any probe
// when ""), whose labels include Labels. A label asked as "" also matches
// its absence.
type Selector struct {
	Name   string
	Probe  string
	Labels map[string]string // never holds ProbeLabel
}

// Parse reads NAME or NAME{label="value",...}. Values are double quoted
// with Go/PromQL escapes (\" \\ \n \t); only equality matching exists.
// probe="..." fills Probe; probe="" is an error, since it names no probe.
func Parse(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	var sel Selector
	i := strings.IndexByte(s, '{')
	name := s
	if i >= 0 {
		name = s[:i]
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return sel, fmt.Errorf("empty series name in %q", s)
	}
	if err := checkName(name, "series name"); err != nil {
		return sel, err
	}
	sel.Name = name
	if i < 0 {
		return sel, nil
	}
	body := s[i+1:]
	if !strings.HasSuffix(body, "}") {
		return sel, fmt.Errorf("missing closing } in %q", s)
	}
	body = body[:len(body)-1]
	sel.Labels = map[string]string{}
	seen := map[string]bool{}
	for {
		body = strings.TrimLeft(body, " \t")
		if body == "" {
			break
		}
		eq := strings.IndexByte(body, '=')
		if eq < 0 {
			return sel, fmt.Errorf("label filter %q: want key=\"value\"", body)
		}
		key := strings.TrimSpace(body[:eq])
		if key == "" {
			return sel, fmt.Errorf("empty label name in %q", s)
		}
		if err := checkName(key, "label name"); err != nil {
			return sel, err
		}
		rest := strings.TrimLeft(body[eq+1:], " \t")
		val, n, err := unquote(rest)
		if err != nil {
			return sel, fmt.Errorf("label %s: %w", key, err)
		}
		if seen[key] {
			return sel, fmt.Errorf("label %s given twice", key)
		}
		seen[key] = true
		if key == ProbeLabel {
			if val == "" {
				return sel, fmt.Errorf(`%s{probe=""} names no probe: leave probe out to match every probe`, name)
			}
			sel.Probe = val
		} else {
			sel.Labels[key] = val
		}
		body = strings.TrimLeft(rest[n:], " \t")
		if body == "" {
			break
		}
		if body[0] != ',' {
			return sel, fmt.Errorf("want , between label filters, got %q", body)
		}
		body = body[1:]
	}
	return sel, nil
}

// ValidName reports whether s can be a series or label name: non-empty,
// letters, digits and _ . : - / only.
func ValidName(s string) bool { return s != "" && checkName(s, "") == nil }

func checkName(s, what string) error {
	for _, c := range s {
		if !isNameRune(c) {
			return fmt.Errorf("invalid character %q in %s %q", c, what, s)
		}
	}
	return nil
}

// isNameRune allows what metric names and label names contain in probe
// reports: letters, digits and _ . : - /.
func isNameRune(c rune) bool {
	return c == '_' || c == '.' || c == ':' || c == '-' || c == '/' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// unquote reads one double-quoted string at the start of s and returns it
// and the number of bytes it took.
func unquote(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, fmt.Errorf("value must be double quoted, got %q", s)
	}
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated escape in %q", s)
			}
			switch s[i+1] {
			case '"', '\\':
				b.WriteByte(s[i+1])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				return "", 0, fmt.Errorf("unknown escape \\%c in %q", s[i+1], s)
			}
			i += 2
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += n
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted value %q", s)
}

// Matches reports whether the series name with labels, reported by probe,
// is one the selector names.
func (s Selector) Matches(probe, name string, labels map[string]string) bool {
	if name != s.Name || s.Probe != "" && probe != s.Probe {
		return false
	}
	for k, v := range s.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// String writes the selector back in the syntax Parse reads, labels
// sorted, probe among them.
func (s Selector) String() string {
	all := maps.Clone(s.Labels)
	if s.Probe != "" {
		if all == nil {
			all = map[string]string{}
		}
		all[ProbeLabel] = s.Probe
	}
	if len(all) == 0 {
		return s.Name
	}
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(all)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(quote(all[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// quote writes v with the escapes unquote reads, and nothing else escaped.
func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
