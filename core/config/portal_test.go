package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenFileMustHoldAToken: a token_file that is empty, blank, a folder
// or missing is an error naming file, line and key, never auth turned off.
func TestTokenFileMustHoldAToken(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "blank"), []byte(" \n\t\n"), 0o600)
	os.Mkdir(filepath.Join(dir, "folder"), 0o700)
	os.WriteFile(filepath.Join(dir, "huge"), make([]byte, maxTokenFile+1), 0o600)
	os.WriteFile(filepath.Join(dir, "good"), []byte("  s3cret \n"), 0o600)
	for name, want := range map[string]string{
		"empty":   "is empty: an empty token would turn authentication off",
		"blank":   "is empty: an empty token would turn authentication off",
		"folder":  "is a folder, not a file holding the token",
		"missing": "no such file or directory",
		"huge":    "more than a token",
		"good":    "",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".toml")
			os.WriteFile(file, []byte("[agent]\nworkers = 2\n\n[portal]\nlisten = \"127.0.0.1:9\"\ntoken_file = \""+name+"\"\n"), 0o600)
			cfg, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cfg.Token()
			if want == "" {
				if err != nil || tok != "s3cret" {
					t.Fatalf("token %q, %v", tok, err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), file+":6: portal.token_file: ") {
				t.Fatalf("token %q, error %v; want %s:6: portal.token_file: ...%s", tok, err, file, want)
			}
		})
	}
}

func TestListenBeyondLoopbackNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		text string
		bad  bool
	}{
		{`listen = "0.0.0.0:8080"`, true},
		{`listen = ":8080"`, true},
		{`listen = "[::]:8080"`, true},
		{`listen = "192.0.2.7:8080"`, true},
		{`listen = "127.0.0.1:8080"`, false},
		{`listen = "127.0.0.2:8080"`, false},
		{`listen = "[::1]:8080"`, false},
		{`listen = "localhost:8080"`, false},
		{`listen = "monitor.lan:8080"`, false}, // known once bound: the portal checks it then
		{"listen = \"0.0.0.0:8080\"\ntoken = \"t\"", false},
		{"listen = \"0.0.0.0:8080\"\ntoken_file = \"/etc/barbossa/token\"", false},
		{"listen = \"0.0.0.0:8080\"\ninsecure_no_token = true", false},
	} {
		_, err := Parse("x.toml", []byte("[portal]\n"+tc.text+"\n"))
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "x.toml:2: portal.listen: ") || !strings.Contains(err.Error(), "insecure_no_token = true") {
				t.Errorf("%s: %v", tc.text, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tc.text, err)
		}
	}
}

func TestPProfNeedsToken(t *testing.T) {
	_, err := Parse("x.toml", []byte("[portal]\npprof = true\n"))
	if err == nil || !strings.Contains(err.Error(), "x.toml:2: portal.pprof: the profiler needs a token") {
		t.Errorf("pprof without a token: %v", err)
	}
	cfg, err := Parse("x.toml", []byte("[portal]\npprof = true\ntoken = \"t\"\n"))
	if err != nil || !cfg.Portal.PProf {
		t.Errorf("pprof with a token: %v, %+v", err, cfg)
	}
}

func TestHosts(t *testing.T) {
	cfg, err := Parse("x.toml", []byte("[portal]\nhosts = [\"monitor.example.lan\", \"Box-1.\"]\n"))
	if err != nil || len(cfg.Portal.Hosts) != 2 {
		t.Fatalf("%v %v", cfg, err)
	}
	for _, h := range []string{"*", "*.example.lan", "monitor.lan:8080", "http://monitor.lan", "", "a..b", "a b"} {
		_, err := Parse("x.toml", []byte("[portal]\n\nhosts = [\""+h+"\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "x.toml:3: portal.hosts: ") {
			t.Errorf("hosts = [%q]: %v", h, err)
		}
	}
}

func TestNULInPaths(t *testing.T) {
	for _, text := range []string{
		"[agent]\ndata_dir = \"a\\u0000b\"\n",
		"[agent]\nprobes_dir = \"a\\u0000b\"\n",
		"[portal]\ntoken_file = \"a\\u0000b\"\n",
		"[[probe]]\nname = \"x\"\nruntime = \"wasm\"\nsource = \"x.wasm\\u0000.txt\"\n",
	} {
		_, err := Parse("x.toml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "holds a NUL byte") {
			t.Errorf("%q: %v", text, err)
		}
	}
	p, err := ParseProbe("d/x.toml", []byte("\n"), ProbeFile{Name: "x", Source: "d/x\x00.wasm"})
	if err == nil || !strings.Contains(err.Error(), "holds a NUL byte") {
		t.Errorf("drop-in with a NUL in its module's path: %+v %v", p, err)
	}
}

func TestMaxModuleSize(t *testing.T) {
	cfg, err := Parse("x.toml", nil)
	if err != nil || cfg.Agent.MaxModuleSize != DefaultMaxModuleSize {
		t.Fatalf("default: %v %v", cfg, err)
	}
	cfg, err = Parse("x.toml", []byte("[agent]\nmax_module_size = \"64MiB\"\n"))
	if err != nil || cfg.Agent.MaxModuleSize != 64<<20 {
		t.Fatalf("64MiB: %v %v", cfg, err)
	}
	for _, v := range []string{`"100B"`, `"9223372036854775807GiB"`, `-1`} {
		if _, err := Parse("x.toml", []byte("[agent]\nmax_module_size = "+v+"\n")); err == nil || !strings.Contains(err.Error(), "x.toml:2") {
			t.Errorf("max_module_size = %s: %v", v, err)
		}
	}
}

// TestProbeErrorf locates a key of an entry in the file it came from.
func TestProbeErrorf(t *testing.T) {
	cfg, err := Parse("x.toml", []byte("[[probe]]\nname = \"a\"\n[[probe]]\nname = \"b\"\nruntime = \"wasm\"\nsource = \"b.wasm\"\n[probe.allow]\nread = [\"/x\"]\nexec = [\"sh\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Probes[1]
	for key, want := range map[string]string{
		"allow.exec": "x.toml:9: probe.allow.exec: m",
		"source":     "x.toml:6: probe.source: m",
		"sha256":     "x.toml:3: probe.sha256: m", // not written: the entry's line
	} {
		if got := b.Errorf(key, "m").Error(); got != want {
			t.Errorf("Errorf(%q) = %q, want %q", key, got, want)
		}
	}
	p, err := ParseProbe("d/x.toml", []byte("interval = \"1m\"\n\n[allow]\nexec = [\"sh\"]\n"), ProbeFile{Name: "x", Source: "d/x.wasm"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Errorf("allow.exec", "m").Error(); got != "d/x.toml:4: allow.exec: m" {
		t.Errorf("drop-in: %q", got)
	}
}
