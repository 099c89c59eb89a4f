package agent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/core/config"
)

// A drop-in probe is a pair of files in the probes folder ([agent]
// probes_dir): NAME.wasm, the module, and NAME.toml, the body of its
// [[probe]] entry without the header:
//
//	interval = "1m"
//	timeout = "10s"
//	[allow]
//	read = ["/home/me/src"]
//	[config]
//	root = "/home/me/src"
//
// name defaults to NAME, runtime is wasm and source is NAME.wasm. The
// entry gets the same defaults and checks as a [[probe]] in the main file
// (config.Probe.ApplyDefaults and Check).

// dropInFiles is one NAME.wasm with its NAME.toml.
type dropInFiles struct {
	stem       string // NAME
	wasm, toml string // paths
}

// scanDropIns lists the pairs in dir, sorted by name. A missing folder has
// none. A NAME.wasm without NAME.toml (or the other way round) is not a
// drop-in yet (it may be half copied) and is listed in orphans.
func scanDropIns(dir string) (pairs []dropInFiles, orphans []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("probes_dir: %w", err)
	}
	has := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			has[e.Name()] = true
		}
	}
	for name := range has {
		stem, ok := strings.CutSuffix(name, ".wasm")
		if ok && stem != "" && has[stem+".toml"] {
			pairs = append(pairs, dropInFiles{stem: stem, wasm: filepath.Join(dir, name), toml: filepath.Join(dir, stem+".toml")})
			continue
		}
		if ok && stem != "" {
			orphans = append(orphans, filepath.Join(dir, name))
		} else if stem, ok := strings.CutSuffix(name, ".toml"); ok && stem != "" && !has[stem+".wasm"] {
			orphans = append(orphans, filepath.Join(dir, name))
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].stem < pairs[j].stem })
	sort.Strings(orphans)
	return pairs, orphans, nil
}

// parseDropIn reads the body of a [[probe]] entry from file (data) for the
// module at wasmPath, fills in what a drop-in implies and the defaults,
// and checks it. Every problem is a *config.Error naming file, line and key.
func parseDropIn(file string, data []byte, stem, wasmPath string, retention time.Duration) (config.Probe, error) {
	var p config.Probe
	md, err := toml.Decode(string(data), &p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return p, &config.Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		return p, decodeError(file, err)
	}
	lines := newKeyLines(data)
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Line: lines.find(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, k := range md.Undecoded() {
		if k[0] != "config" { // [config] is the probe's own
			bad(k.String(), "unknown key")
		}
	}
	if p.Name == "" {
		p.Name = stem
	}
	switch p.Runtime {
	case "":
		p.Runtime = config.RuntimeWASM
	case config.RuntimeWASM:
	default:
		bad("runtime", "%q: a drop-in is a WASM probe (%s); leave runtime out", p.Runtime, filepath.Base(wasmPath))
	}
	if p.Source != "" {
		bad("source", "a drop-in runs %s beside it; leave source out", filepath.Base(wasmPath))
	}
	p.Source = wasmPath
	p.ApplyDefaults(retention)
	for _, e := range p.Check() {
		bad(e.Key(), "probe %q: %s", p.Name, strings.TrimPrefix(e.Error(), e.Key()+": "))
	}
	p.Line = 1
	return p, errors.Join(errs...)
}

// The decoder reports type mismatches as plain text with the line inside.
var decodeErrorText = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func decodeError(file string, err error) *config.Error {
	m := decodeErrorText.FindStringSubmatch(err.Error())
	if m == nil {
		return &config.Error{File: file, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	return &config.Error{File: file, Line: line, Key: m[2], Msg: m[3]}
}

// keyLines finds the line of a key in a drop-in file: a top-level key
// ("timeout") or one in a table ("allow.exec", written under [allow] or as
// a dotted key). The decoder keeps key positions to itself.
type keyLines struct{ lines []string }

func newKeyLines(data []byte) keyLines {
	var k keyLines
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k.lines = append(k.lines, sc.Text())
	}
	return k
}

// find returns the 1-based line of key, or 0.
func (k keyLines) find(key string) int {
	table := ""
	for i, raw := range k.lines {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "[") {
			table = strings.Trim(strings.TrimSpace(strings.SplitN(line, "#", 2)[0]), "[] ")
			if table == key {
				return i + 1
			}
			continue
		}
		name, _, ok := strings.Cut(line, "=")
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

// dropInHash is the identity of a drop-in's content: both files.
func dropInHash(tomlData, wasm []byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(tomlData))
	h.Write(tomlData)
	h.Write(wasm)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// DropIns reads every drop-in of cfg's probes folder without loading any
// module: the probes it would run, and the problems that would make the
// agent skip a drop-in. `barbossa probes` and `barbossa check` use it.
func DropIns(cfg *config.Config) ([]config.Probe, []error) {
	dir := cfg.Path(cfg.Agent.ProbesDir)
	pairs, _, err := scanDropIns(dir)
	if err != nil {
		return nil, []error{err}
	}
	taken := map[string]string{}
	for _, p := range cfg.Probes {
		taken[p.Name] = fmt.Sprintf("%s:%d", cfg.File, p.Line)
	}
	var probes []config.Probe
	var errs []error
	for _, f := range pairs {
		p, err := readDropIn(f, cfg.Store.Retention.Duration, taken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		taken[p.Name] = f.toml
		probes = append(probes, p)
	}
	return probes, errs
}

// readDropIn reads and checks one drop-in's TOML; taken maps the probe
// names already in use to where they were defined.
func readDropIn(f dropInFiles, retention time.Duration, taken map[string]string) (config.Probe, error) {
	data, err := os.ReadFile(f.toml)
	if err != nil {
		return config.Probe{}, fmt.Errorf("drop-in: %w", err)
	}
	return checkDropIn(f, data, retention, taken)
}

func checkDropIn(f dropInFiles, data []byte, retention time.Duration, taken map[string]string) (config.Probe, error) {
	p, err := parseDropIn(f.toml, data, f.stem, f.wasm, retention)
	if err != nil {
		return p, err
	}
	if where, ok := taken[p.Name]; ok {
		key := "name"
		return p, &config.Error{File: f.toml, Line: newKeyLines(data).find(key), Key: key,
			Msg: fmt.Sprintf("probe %q is already defined in %s", p.Name, where)}
	}
	return p, nil
}
