package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

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
// (config.Probe.ApplyDefaults and Check). The folder and both files must
// be the agent's to trust (trust.go).

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

// parseDropIn reads a drop-in's TOML (file, data) for the module at wasmPath.
func parseDropIn(file string, data []byte, stem, wasmPath string, retention time.Duration) (config.Probe, error) {
	return config.ParseProbe(file, data, config.ProbeFile{Name: stem, Source: wasmPath, Retention: retention})
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
	wasm  []byte
}

func readDropIns(cfg *config.Config) ([]dropInRead, []error) {
	dir := cfg.Path(cfg.Agent.ProbesDir)
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
		tomlData, wasm, err := readDropInFiles(folder, f, int64(cfg.Agent.MaxModuleSize))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := checkDropIn(f, tomlData, cfg.Store.Retention.Duration, taken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		taken[p.Name] = f.toml
		out = append(out, dropInRead{probe: p, wasm: wasm})
	}
	return out, errs
}

// readDropInFiles reads a drop-in's two files as the agent trusts them
// (trust.go): the TOML up to 1 MiB, the module up to maxModule bytes.
func readDropInFiles(folder probesFolder, f dropInFiles, maxModule int64) (tomlData, wasm []byte, err error) {
	tomlData, err = readDropInFile(folder, f.toml, maxDropInTOML, "a drop-in's TOML")
	if err != nil {
		return nil, nil, err
	}
	wasm, err = readDropInFile(folder, f.wasm, maxModule, "[agent] max_module_size")
	if err != nil {
		return nil, nil, err
	}
	return tomlData, wasm, nil
}

// checkDropIn parses a drop-in's TOML and checks what the agent would
// refuse: its entry, its name (taken maps the names in use to where they
// were defined) and its grants.
func checkDropIn(f dropInFiles, data []byte, retention time.Duration, taken map[string]string) (config.Probe, error) {
	p, err := parseDropIn(f.toml, data, f.stem, f.wasm, retention)
	if err != nil {
		return p, err
	}
	if where, ok := taken[p.Name]; ok {
		return p, p.Errorf("name", "probe %q is already defined in %s", p.Name, where)
	}
	if !p.Disabled {
		return p, errors.Join(grantProblems(p)...)
	}
	return p, nil
}
