package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
)

// A drop-in probe is a pair of files in the probes folder ([agent]
// probes_dir): NAME.toml, the body of its [[probe]] entry without the
// header, beside either NAME.wasm, a WASM module, or NAME, an executable:
// a native plugin binary.
//
//	interval = "1m"
//	timeout = "10s"
//	sha256 = "9f86d0..."   # required for a plugin binary
//	[allow]
//	read = ["/home/me/src"]
//	[config]
//	root = "/home/me/src"
//
// name defaults to NAME, runtime is wasm or plugin (by the file) and
// source is the file. The entry gets the same defaults and checks as a
// [[probe]] in the main file (config.Probe.ApplyDefaults and Check). The
// folder and both files must be the agent's to trust (trust.go); a plugin
// binary, which runs with the agent's rights, must also be pinned by its
// sha256 in NAME.toml.

// dropInFiles is one NAME.toml with what it runs.
type dropInFiles struct {
	stem    string // NAME
	toml    string // its path
	code    string // the path of NAME.wasm or of NAME, a plugin binary
	runtime string // config.RuntimeWASM or config.RuntimePlugin
	// also is NAME when NAME.wasm is code too: a drop-in is one or the
	// other, so such a pair is refused.
	also string
}

// scanDropIns lists the drop-ins in dir, sorted by name. A missing folder
// has none. A NAME.toml without NAME.wasm or NAME, or a NAME.wasm without
// NAME.toml, is not a drop-in yet (it may be half copied) and is listed
// in orphans. (A lone NAME without an extension is not listed: it may be
// anything.)
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
		if stem, ok := strings.CutSuffix(name, ".wasm"); ok && stem != "" && !has[stem+".toml"] {
			orphans = append(orphans, filepath.Join(dir, name))
			continue
		}
		stem, ok := strings.CutSuffix(name, ".toml")
		if !ok || stem == "" {
			continue
		}
		f := dropInFiles{stem: stem, toml: filepath.Join(dir, name)}
		switch wasm, native := has[stem+".wasm"], has[stem]; {
		case wasm:
			f.code, f.runtime = filepath.Join(dir, stem+".wasm"), config.RuntimeWASM
			if native {
				f.also = filepath.Join(dir, stem)
			}
		case native:
			f.code, f.runtime = filepath.Join(dir, stem), config.RuntimePlugin
		default:
			orphans = append(orphans, f.toml)
			continue
		}
		pairs = append(pairs, f)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].stem < pairs[j].stem })
	sort.Strings(orphans)
	return pairs, orphans, nil
}

// parseDropIn reads a drop-in's TOML (file, data).
func parseDropIn(f dropInFiles, data []byte, retention time.Duration) (config.Probe, error) {
	return config.ParseProbe(f.toml, data, config.ProbeFile{Name: f.stem, Source: f.code, Runtime: f.runtime, Retention: retention})
}

// dropInHash is the identity of a drop-in's content: its TOML and what it
// runs (a module's bytes, a binary's sha256).
func dropInHash(tomlData, code []byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", len(tomlData))
	h.Write(tomlData)
	h.Write(code)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// DropIns reads every drop-in of cfg's probes folder without loading any
// module: the probes it would run, and the problems that would make the
// agent skip a drop-in. `barbossa probes` and `barbossa check` use it.
func DropIns(cfg *config.Config) ([]config.Probe, []error) {
	read, errs := readDropIns(cfg)
	probes := make([]config.Probe, len(read))
	for i, d := range read {
		probes[i] = d.probe
	}
	return probes, errs
}

// dropInRead is a drop-in read and checked as the agent would load it.
type dropInRead struct {
	probe config.Probe
	wasm  []byte // a WASM drop-in's module
}

// probesDir is the probes folder, absolute: a plugin drop-in's source is
// a path in it, run as it is.
func probesDir(cfg *config.Config) string {
	dir := cfg.Path(cfg.Agent.ProbesDir)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

func readDropIns(cfg *config.Config) ([]dropInRead, []error) {
	dir := probesDir(cfg)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	folder, err := trustFolder(dir)
	if err != nil {
		return nil, []error{err}
	}
	pairs, _, err := scanDropIns(dir)
	if err != nil {
		return nil, []error{err}
	}
	taken := map[string]string{}
	for _, p := range cfg.Probes {
		taken[p.Name] = fmt.Sprintf("%s:%d", cfg.File, p.Line)
	}
	var out []dropInRead
	var errs []error
	for _, f := range pairs {
		files, err := readDropInFiles(folder, f, int64(cfg.Agent.MaxModuleSize))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := checkDropIn(f, files, cfg.Store.Retention.Duration, taken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		taken[p.Name] = f.toml
		out = append(out, dropInRead{probe: p, wasm: files.wasm})
	}
	return out, errs
}

// dropInContent is a drop-in's files as read: the TOML, and the module or
// the plugin binary's sha256 (hex).
type dropInContent struct {
	toml []byte
	wasm []byte
	sum  string
}

// code is what identifies the drop-in's code, for dropInHash.
func (c dropInContent) code() []byte {
	if c.wasm != nil {
		return c.wasm
	}
	return []byte(c.sum)
}

// readDropInFiles reads a drop-in's two files as the agent trusts them
// (trust.go): the TOML up to 1 MiB, a module up to maxModule bytes, a
// plugin binary through sha256 (it is run from its file, not from memory).
func readDropInFiles(folder probesFolder, f dropInFiles, maxModule int64) (dropInContent, error) {
	var c dropInContent
	if f.also != "" {
		return c, &config.Error{File: f.toml, Msg: fmt.Sprintf("both %s and %s are beside it: a drop-in is a WASM module or a plugin binary, not both; remove one",
			filepath.Base(f.code), filepath.Base(f.also))}
	}
	var err error
	if c.toml, err = readDropInFile(folder, f.toml, maxDropInTOML, "a drop-in's TOML"); err != nil {
		return c, err
	}
	if f.runtime == config.RuntimePlugin {
		c.sum, err = hashDropInBinary(folder, f.code)
		return c, err
	}
	c.wasm, err = readDropInFile(folder, f.code, maxModule, "[agent] max_module_size")
	return c, err
}

// hashDropInBinary checks a plugin drop-in's binary as the agent trusts it
// and returns its sha256.
func hashDropInBinary(folder probesFolder, path string) (string, error) {
	f, fi, err := openDropInFile(folder, path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi.Mode().Perm()&0o111 == 0 {
		return "", &config.Error{File: path, Msg: "a plugin binary that is not executable: refused; chmod +x it"}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkDropIn parses a drop-in's TOML and checks what the agent would
// refuse: its entry, its name (taken maps the names in use to where they
// were defined), its grants, and a plugin binary's sha256.
func checkDropIn(f dropInFiles, c dropInContent, retention time.Duration, taken map[string]string) (config.Probe, error) {
	p, err := parseDropIn(f, c.toml, retention)
	if err != nil {
		return p, err
	}
	if where, ok := taken[p.Name]; ok {
		return p, p.Errorf("name", "probe %q is already defined in %s", p.Name, where)
	}
	if p.Disabled {
		return p, nil
	}
	errs := grantProblems(p)
	if f.runtime == config.RuntimePlugin {
		if err := checkPinned(p, c.sum); err != nil {
			errs = append(errs, err)
		}
	}
	return p, errors.Join(errs...)
}

// checkPinned refuses a plugin drop-in whose TOML does not pin the sha256
// its binary has: a plugin runs with the agent's rights, so the one meant
// is named, and nothing else runs in its place.
func checkPinned(p config.Probe, sum string) error {
	bin := filepath.Base(p.Source)
	switch {
	case p.SHA256 == "":
		return p.Errorf("sha256", "probe %q: a plugin drop-in must pin its binary, which runs with the agent's rights: add sha256 = %q if %s is the binary you mean (sha256sum %s)",
			p.Name, sum, bin, bin)
	case !strings.EqualFold(p.SHA256, sum):
		return p.Errorf("sha256", "probe %q: %s has sha256 %s, but its TOML pins %s: refused (rebuild it, or update sha256 if this binary is the one you mean)",
			p.Name, bin, sum, p.SHA256)
	}
	return nil
}
