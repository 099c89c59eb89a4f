package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// ProbeFile says what a file holding one probe entry implies: a drop-in's
// NAME.toml beside NAME.wasm is the body of a [[probe]] (no header) whose
// name defaults to NAME and whose source is NAME.wasm.
type ProbeFile struct {
	Name      string        // the default name
	Source    string        // the module or binary the entry runs; the file may not name another
	Runtime   string        // what Source is: RuntimeWASM ("" too) or RuntimePlugin
	Retention time.Duration // [store] retention, the default of the probe's
}

// ParseProbe reads one probe entry from a probe file, fills what the file
// implies and the defaults, and runs the same checks as a [[probe]] in the
// main file. Every problem is an *Error naming file, line and key.
func ParseProbe(file string, data []byte, pf ProbeFile) (Probe, error) {
	var p Probe
	loc := newLocator(data)
	md, errs, typeErr, err := decode(file, data, &p, func(key []string, _ int) int { return loc.flatKeyLine(strings.Join(key, ".")) })
	if err != nil {
		return p, err
	}
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: loc.flatKeyLine(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, k := range md.Undecoded() {
		if k[0] != "config" && !typeErr[k.String()] { // [config] is the probe's own
			bad(k.String(), "unknown key")
		}
	}
	if p.Name == "" {
		p.Name = pf.Name
	}
	runtime := pf.Runtime
	if runtime == "" {
		runtime = RuntimeWASM
	}
	switch p.Runtime {
	case "":
		p.Runtime = runtime
	case runtime:
	default:
		what := "a drop-in is a WASM probe"
		if runtime == RuntimePlugin {
			what = "this file is for a plugin binary"
		}
		bad("runtime", "%q: %s (%s); leave runtime out", p.Runtime, what, filepath.Base(pf.Source))
	}
	if p.Source != "" {
		bad("source", "a drop-in runs %s beside it; leave source out", filepath.Base(pf.Source))
	}
	p.Source = pf.Source
	p.ApplyDefaults(pf.Retention)
	for _, e := range p.Check() {
		bad(e.Key(), "probe %q: %s", p.Name, e.msg)
	}
	p.Line = 1
	p.origin = &origin{file: file, loc: loc, index: -1}
	return p, errors.Join(errs...)
}

// KeyLine is the line of key ("timeout", "allow.exec") in a probe file, or
// 0, for messages about an entry ParseProbe accepted.
func KeyLine(data []byte, key string) int { return newLocator(data).flatKeyLine(key) }

// flatKeyLine finds a top-level key ("timeout") or one in a table
// ("allow.exec", written under [allow] or as a dotted key) in a file
// without arrays of tables.
func (l *locator) flatKeyLine(key string) int {
	table := ""
	for i, raw := range l.lines {
		if name, _, ok := header(raw); ok {
			table = name
			if table == key {
				return i + 1
			}
			continue
		}
		name, _, ok := strings.Cut(strings.TrimSpace(raw), "=")
		if !ok {
			continue
		}
		name = strings.Trim(strings.TrimSpace(name), `"'`)
		if table != "" {
			name = table + "." + name
		}
		if name == key {
			return i + 1
		}
	}
	return 0
}
