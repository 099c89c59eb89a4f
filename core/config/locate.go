package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator finds the line of a key in TOML text. The decoder does not expose
// key positions, and an error without a line makes a user hunt for it.
type locator struct {
	lines []string
}

func newLocator(data []byte) *locator {
	var l locator
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.lines = append(l.lines, sc.Text())
	}
	return &l
}

// header returns the table name of a "[x]" or "[[x]]" line and whether it is
// an array-of-tables header.
func header(line string) (name string, array, ok bool) {
	s := strings.TrimSpace(line)
	if i := strings.IndexByte(s, '#'); i >= 0 && !strings.ContainsAny(s[:i], `"'`) {
		s = strings.TrimSpace(s[:i])
	}
	if strings.HasPrefix(s, "[[") && strings.HasSuffix(s, "]]") {
		return strings.TrimSpace(s[2 : len(s)-2]), true, true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return strings.TrimSpace(s[1 : len(s)-1]), false, true
	}
	return "", false, false
}

// tableLine is the 1-based line of the header of table (the index-th one for
// an array of tables), or 0.
func (l *locator) tableLine(table string, index int) int {
	n := 0
	for i, line := range l.lines {
		if name, _, ok := header(line); ok && name == table {
			if n == index {
				return i + 1
			}
			n++
		}
	}
	return 0
}

// line finds key ("probe.timeout", "agent.workers") in the index-th table
// named table; it falls back to the table header.
func (l *locator) line(table string, index int, key string) int {
	dot := strings.LastIndexByte(key, '.')
	return l.lineIn(table, index, key[:max(dot, 0)], key[dot+1:])
}

// lineIn finds key in section (a table or one of its sub-tables) inside the
// index-th table named table ("" for the top level before any header), and
// falls back to that table's header line.
func (l *locator) lineIn(table string, index int, section, key string) int {
	start := 0
	if table != "" {
		start = l.tableLine(table, index)
		if start == 0 {
			return 0
		}
	}
	current := table
	for i := start; i < len(l.lines); i++ {
		if name, array, ok := header(l.lines[i]); ok {
			if table == "" || array && name == table || name != table && !strings.HasPrefix(name, table+".") {
				break
			}
			current = name
			continue
		}
		k, _, found := strings.Cut(l.lines[i], "=")
		if found && current == section && strings.Trim(strings.TrimSpace(k), `"'`) == key {
			return i + 1
		}
	}
	return start
}

// keyLine locates a decoder key such as agent.foo or probe.allow.foo; index
// is that of the [[probe]], [[alert]] or [[notify]] it is in, or -1.
func (l *locator) keyLine(k toml.Key, index int) int {
	if len(k) == 0 {
		return 0
	}
	if index >= 0 {
		if len(k) == 1 {
			return l.tableLine(k[0], index)
		}
		return l.nestedLine(k[0], index, k.String())
	}
	if len(k) == 1 {
		if n := l.tableLine(k[0], 0); n > 0 {
			return n
		}
		return l.lineIn("", 0, "", k[0])
	}
	return l.lineIn(k[0], 0, strings.Join(k[:len(k)-1], "."), k[len(k)-1])
}

// origin is where a probe entry was read from, so that problems found
// after parsing (a grant the host refuses, a missing module) can name the
// file, line and key as the parser's own checks do.
type origin struct {
	file  string
	loc   *locator
	index int // the entry's [[probe]] in a main file; -1 in a probe file
}

// Errorf is a problem with key ("source", "allow.exec") of this entry,
// located in the file the entry came from: barbossa.toml:14:
// probe.allow.exec in the main file, probes.d/x.toml:3: allow.exec in a
// drop-in's. An entry made in code has no file and gives its Line.
func (p *Probe) Errorf(key, format string, args ...any) *Error {
	e := &Error{Line: p.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
	if o := p.origin; o != nil {
		e.File = o.file
		if o.index < 0 {
			if n := o.loc.flatKeyLine(key); n > 0 {
				e.Line = n
			}
		} else {
			e.Key = "probe." + key
			e.Line = o.loc.line("probe", o.index, e.Key)
		}
	}
	return e
}

// Errorf is a problem with key ("portal.token_file") of the main file, at
// the line that sets it.
func (c *Config) Errorf(key, format string, args ...any) *Error {
	e := &Error{File: c.File, Key: key, Msg: fmt.Sprintf(format, args...)}
	if c.loc != nil {
		table, _, _ := strings.Cut(key, ".")
		e.Line = c.loc.line(table, 0, key)
	}
	return e
}

// nestedLine finds key ("alert.entity.kind") in the index-th table named
// table; a key inside an inline table (entity = {kind = "unit"}) is found
// at its parent's line.
func (l *locator) nestedLine(table string, index int, key string) int {
	head := l.tableLine(table, index)
	for k := key; ; {
		if n := l.line(table, index, k); n != head {
			return n
		}
		dot := strings.LastIndexByte(k, '.')
		if dot <= len(table) {
			return head
		}
		k = k[:dot]
	}
}
