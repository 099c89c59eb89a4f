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
		return p, &config.Error{File: f.toml, Line: config.KeyLine(data, key), Key: key,
			Msg: fmt.Sprintf("probe %q is already defined in %s", p.Name, where)}
	}
	return p, nil
}
