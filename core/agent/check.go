package agent

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/pluginhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
)

// Check finds what would make `barbossa run` refuse cfg or skip one of its
// drop-ins, without starting anything: the portal's token and TLS files;
// each enabled probe's grants, compiled as the host compiles them when it
// makes the probe; its source (a builtin that exists, a readable module
// file within max_module_size that is WASM and has the pinned sha256, a
// plugin binary that is executable and has its sha256); and every drop-in
// (the folder's and files' trust, sizes, TOML, name, grants, sha256). It
// compiles no module: a module whose code wazero refuses, or a kind it
// does not hold, is only found by run (or `barbossa probe test`). Every
// problem names file, line and key where it has them.
func Check(cfg *config.Config) []error {
	return append(checkFile(cfg), checkDropIns(cfg)...)
}

// checkFile is Check of what the config file itself names.
func checkFile(cfg *config.Config) []error {
	var errs []error
	if _, err := cfg.Token(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Portal.TLSCert != "" && cfg.Portal.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(cfg.Path(cfg.Portal.TLSCert), cfg.Path(cfg.Portal.TLSKey)); err != nil {
			errs = append(errs, cfg.Errorf("portal.tls_cert", "%v", err))
		}
	}
	if err := alert.CheckReceivers(cfg); err != nil {
		errs = append(errs, err)
	}
	for _, p := range cfg.Probes {
		if p.Disabled {
			continue // run neither reads nor grants it
		}
		errs = append(errs, grantProblems(p)...)
		errs = append(errs, sourceProblems(cfg, p)...)
	}
	return errs
}

// checkDropIns is Check of the probes folder: the drop-ins run would skip.
func checkDropIns(cfg *config.Config) []error {
	dropIns, errs := readDropIns(cfg)
	for _, d := range dropIns {
		if !d.probe.Disabled && d.probe.Runtime == config.RuntimeWASM {
			errs = append(errs, moduleProblems(d.probe, d.wasm)...)
		}
	}
	return errs
}

// GrantWarnings lists the grants of the enabled probes among probes (the
// config's and its drop-ins, as DropIns reads them) that are wider than
// they read (hostfuncs.Grants.Warnings), each located at its file, line
// and key. They do not stop the agent.
func GrantWarnings(probes []config.Probe) []error {
	var out []error
	for _, p := range probes {
		if !p.Disabled {
			out = append(out, grantWarnings(p)...)
		}
	}
	return out
}

func grantWarnings(p config.Probe) []error {
	var out []error
	for _, w := range hostfuncs.Grants(p.Allow).Warnings() {
		out = append(out, p.Errorf("allow.exec", "probe %q: %s", p.Name, w))
	}
	return out
}

// grantProblems compiles a probe's grants as the host does when it makes
// the probe, one key at a time, so that each bad grant names its line.
func grantProblems(p config.Probe) []error {
	var errs []error
	for _, g := range []struct {
		key    string
		grants hostfuncs.Grants
	}{
		{"allow.exec", hostfuncs.Grants{Exec: p.Allow.Exec}},
		{"allow.http", hostfuncs.Grants{HTTP: p.Allow.HTTP}},
		{"allow.dbus", hostfuncs.Grants{DBus: p.Allow.DBus}},
		{"allow.read", hostfuncs.Grants{Read: p.Allow.Read}},
		{"allow.max_dir_entries", hostfuncs.Grants{MaxDirEntries: p.Allow.MaxDirEntries}},
	} {
		err := g.grants.Check()
		if err == nil {
			continue
		}
		// One message per bad grant, without the "grants: " the host adds.
		list := []error{err}
		var joined interface{ Unwrap() []error }
		if errors.As(errors.Unwrap(err), &joined) {
			list = joined.Unwrap()
		}
		for _, e := range list {
			errs = append(errs, p.Errorf(g.key, "probe %q: %v", p.Name, e))
		}
	}
	return errs
}

// sourceProblems checks what an enabled [[probe]] of the main file runs.
func sourceProblems(cfg *config.Config, p config.Probe) []error {
	if strings.ContainsRune(p.Source, 0) {
		return nil // the config's own check says so
	}
	switch p.Runtime {
	case config.RuntimeBuiltin:
		if _, err := builtinProbe(p.Source); err != nil {
			return []error{p.Errorf("source", "probe %q: %v", p.Name, err)}
		}
	case config.RuntimeWASM:
		if strings.HasPrefix(p.Source, "builtin:") {
			return nil // in the bundle, or the agent runs and says how to build it
		}
		wasm, err := readModule(cfg, p)
		if err != nil {
			return []error{err}
		}
		return moduleProblems(p, wasm)
	case config.RuntimePlugin:
		pr, err := pluginhost.New(pluginhost.Options{Name: p.Name, Path: cfg.Path(p.Source), SHA256: p.SHA256})
		if err != nil {
			key := "source"
			var sum *pluginhost.ChecksumError
			if errors.As(err, &sum) {
				key = "sha256"
			}
			return []error{p.Errorf(key, "%v", err)}
		}
		pr.Close()
	}
	return nil
}

// moduleProblems checks a WASM probe's module bytes without compiling
// them: the WASM header, and the sha256 when one is pinned.
func moduleProblems(p config.Probe, wasm []byte) []error {
	var errs []error
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		errs = append(errs, p.Errorf("source", "probe %q: %s is not a WASM module (no \\0asm header)", p.Name, p.Source))
	}
	if err := checkSHA256(p, wasm); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkSHA256 refuses a module whose SHA-256 is not the one pinned.
func checkSHA256(p config.Probe, wasm []byte) error {
	if p.SHA256 == "" {
		return nil
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(p.SHA256, got) {
		return p.Errorf("sha256", "probe %q: %s has SHA-256 %s, the config wants %s", p.Name, p.Source, got, p.SHA256)
	}
	return nil
}

// readModule reads a [[probe]]'s .wasm file (relative to the config file),
// refusing a folder, a special file, or one over [agent] max_module_size.
func readModule(cfg *config.Config, p config.Probe) ([]byte, error) {
	if p.Source == "" {
		return nil, p.Errorf("source", "probe %q: a WASM probe needs builtin:NAME or the path of a .wasm file", p.Name)
	}
	path := cfg.Path(p.Source)
	fail := func(format string, args ...any) error {
		return p.Errorf("source", "probe %q: "+format, append([]any{p.Name}, args...)...)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail("%s is not a regular file (%s)", path, fi.Mode())
	}
	wasm, err := readAtMost(f, filepath.Clean(path), fi.Size(), int64(cfg.Agent.MaxModuleSize), "[agent] max_module_size")
	if err != nil {
		return nil, fail("%v", err)
	}
	return wasm, nil
}

// CheckConfig parses config text and finds everything `barbossa run` would
// refuse in it (Check), so that `barbossa check`, `barbossa reload` and a
// reload (SIGHUP) judge a file alike: fileErrs would stop the agent, or
// refuse a reload; dropInErrs name the drop-ins it would skip, which
// neither stops it nor refuses a reload. The config is nil only when the
// text is not TOML at all.
func CheckConfig(name string, data []byte) (cfg *config.Config, fileErrs, dropInErrs []error) {
	cfg, err := config.ParseAll(name, data)
	if err != nil {
		fileErrs = append(fileErrs, flatten(err)...)
	}
	if cfg == nil {
		return nil, fileErrs, nil
	}
	return cfg, append(fileErrs, checkFile(cfg)...), checkDropIns(cfg)
}
