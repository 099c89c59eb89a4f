package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse("min.toml", []byte("[[probe]]\nname = \"system\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Portal.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %q, want loopback default", cfg.Portal.Listen)
	}
	if cfg.Store.Retention.Duration != 7*24*time.Hour {
		t.Errorf("retention = %v", cfg.Store.Retention)
	}
	p := cfg.Probes[0]
	if p.Runtime != "builtin" || p.Source != "builtin:system" {
		t.Errorf("runtime/source = %q/%q", p.Runtime, p.Source)
	}
	if p.Interval.Duration != 30*time.Second || p.Timeout.Duration != 10*time.Second || p.StaleAfter.Duration != 90*time.Second {
		t.Errorf("interval/timeout/stale = %v/%v/%v", p.Interval, p.Timeout, p.StaleAfter)
	}
	if p.Line != 1 {
		t.Errorf("line = %d", p.Line)
	}
}

// [limits] fills what it leaves out from the defaults; a probe's
// [probe.limits] overrides it key by key.
func TestLimits(t *testing.T) {
	cfg, err := Parse("x.toml", []byte("[limits]\nmax_series = 500\n[[probe]]\nname = \"a\"\n[probe.limits]\nmax_metrics = 7\n[[probe]]\nname = \"b\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultLimits()
	want.MaxSeries = 500
	if cfg.Limits != want {
		t.Errorf("[limits] = %+v, want %+v", cfg.Limits, want)
	}
	a := cfg.Probes[0].Limits.Or(cfg.Limits)
	if a.MaxMetrics != 7 || a.MaxSeries != 500 || a.MaxNameBytes != DefaultLimits().MaxNameBytes {
		t.Errorf("probe a's limits = %+v", a)
	}
	if b := cfg.Probes[1].Limits.Or(cfg.Limits); b != cfg.Limits {
		t.Errorf("probe b's limits = %+v, want [limits]", b)
	}
	if c := a.Config(); c.Metrics != 7 || c.Series != 500 || c.SeriesIdle != time.Hour {
		t.Errorf("Config() = %+v", c)
	}
	if cfg.Store.MinFree != DefaultMinFree {
		t.Errorf("min_free = %d", cfg.Store.MinFree)
	}
	if cfg.Limits.MaxDepth != 32 {
		t.Errorf("max_depth defaults to %d", cfg.Limits.MaxDepth)
	}
	cfg, err = Parse("x.toml", []byte("[limits]\nmax_depth = 4\n[[probe]]\nname = \"a\"\n[probe.limits]\nmax_depth = 256\n[[probe]]\nname = \"b\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.Probes[0].Limits.Or(cfg.Limits), cfg.Probes[1].Limits.Or(cfg.Limits); a.MaxDepth != 256 || b.MaxDepth != 4 {
		t.Errorf("max_depth: a %d, b %d; want 256 and 4", a.MaxDepth, b.MaxDepth)
	}
}

func TestDefaultFileIsValid(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "barbossa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Probes) == 0 {
		t.Fatal("the default config runs no probe")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // substrings of the error, all required
	}{
		{"unknown top key", "[agent]\nworkers = 2\nwrokers = 3\n", []string{"x.toml:3: agent.wrokers: unknown key"}},
		{"unknown probe key in second probe", "[[probe]]\nname = \"a\"\n[[probe]]\nname = \"b\"\nintervall = \"1s\"\n",
			[]string{"x.toml:5: probe.intervall: unknown key"}},
		{"unknown allow key", "[[probe]]\nname = \"a\"\n[probe.allow]\nexecc = [\"tmux\"]\n", []string{"x.toml:4: probe.allow.execc: unknown key"}},
		{"bad duration", "[[probe]]\nname = \"a\"\ninterval = \"5 minutes\"\n", []string{"x.toml:3", "interval", "bad duration"}},
		{"timeout not below interval", "[[probe]]\nname = \"a\"\ninterval = \"10s\"\ntimeout = \"10s\"\n",
			[]string{"x.toml:4: probe.timeout: probe \"a\": 10s must be shorter than interval 10s"}},
		{"duplicate names", "[[probe]]\nname = \"a\"\n\n[[probe]]\nname = \"a\"\n",
			[]string{"x.toml:5: probe.name: duplicate probe name \"a\" (first defined on line 1)"}},
		{"bad runtime", "[[probe]]\nname = \"a\"\nruntime = \"lua\"\n", []string{"x.toml:3: probe.runtime", "\"lua\" is not one of builtin, wasm, plugin"}},
		{"syntax", "[agent\nworkers = 2\n", []string{"x.toml:2", "table name"}},
		{"wrong type", "[agent]\nworkers = \"two\"\n", []string{"x.toml:2: agent.workers: incompatible types"}},
		{"bad log level", "[agent]\nlog_level = \"loud\"\n", []string{"x.toml:2: agent.log_level: \"loud\" is not one of"}},
		{"two errors at once", "[agent]\nworkers = 2\nfoo = 1\n[[probe]]\nname = \"a\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
			[]string{"x.toml:3: agent.foo: unknown key", "x.toml:7: probe.timeout"}},
		{"bad sha", "[[probe]]\nname = \"a\"\nruntime = \"plugin\"\nsource = \"/bin/x\"\nsha256 = \"abc\"\n", []string{"x.toml:5: probe.sha256"}},
		{"name chars", "[[probe]]\nname = \"a b\"\n", []string{"x.toml:2: probe.name"}},
		{"negative limit", "[limits]\nmax_series = -1\n", []string{"x.toml:2: limits.max_series: -1 is outside 1..10000000"}},
		{"limit over its cap", "[[probe]]\nname = \"a\"\n[probe.limits]\nmax_name_bytes = 70000\n",
			[]string{"x.toml:4: probe.limits.max_name_bytes: probe \"a\": 70000 is outside 1..4096"}},
		{"series_idle too short", "[limits]\nseries_idle = \"1s\"\n", []string{"x.toml:2: limits.series_idle: 1s is outside 1m..30d"}},
		{"unknown limit", "[limits]\nmax_serie = 1\n", []string{"x.toml:2: limits.max_serie: unknown key"}},
		{"max_depth too shallow", "[limits]\nmax_depth = 3\n", []string{"x.toml:2: limits.max_depth: 3 is outside 4..256"}},
		{"max_depth too deep", "[[probe]]\nname = \"a\"\n[probe.limits]\nmax_depth = 257\n",
			[]string{"x.toml:4: probe.limits.max_depth: probe \"a\": 257 is outside 4..256"}},
		{"min_free too small", "[store]\nmin_free = \"1MiB\"\n", []string{"x.toml:2: store.min_free: 1048576 bytes is below 64 MiB"}},
		{"kind with builtin", "[[probe]]\nname = \"t\"\nruntime = \"wasm\"\nsource = \"builtin:tmux\"\nkind = \"tmux\"\n",
			[]string{"x.toml:5: probe.kind", "builtin:tmux names its probe already"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestFreeConfigTableAndGrants(t *testing.T) {
	text := `
[[probe]]
name = "tmux"
runtime = "wasm"
source = "builtin:tmux"
[probe.allow]
exec = ["tmux"]
read = ["/proc"]
[probe.config]
socket = "/tmp/x"
nested = { a = 1 }
`
	cfg, err := Parse("x.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Probes[0]
	if p.Config["socket"] != "/tmp/x" {
		t.Errorf("config = %v", p.Config)
	}
	if len(p.Allow.Exec) != 1 || p.Allow.Exec[0] != "tmux" || p.Allow.Read[0] != "/proc" {
		t.Errorf("allow = %+v", p.Allow)
	}
	if p.MaxMemory != DefaultMaxMemory {
		t.Errorf("max_memory = %d", p.MaxMemory)
	}
}

func TestDurationsAndSizes(t *testing.T) {
	// The one duration grammar (sdk.ParseDuration, tested there) with its
	// whole error, at the key's line: "15 seconds" is not "days must be a
	// whole number".
	_, err := Parse("x.toml", []byte("[store]\nretention = \"15 seconds\"\n"))
	for _, want := range []string{"x.toml:2", "store.retention", `bad duration "15 seconds"`, "ns, us, ms, s, m, h, d (24h) and w (7d)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("15 seconds: error %v does not say %q", err, want)
		}
	}
	cfg, err := Parse("x.toml", []byte("[store]\nretention = \"2w\"\n"))
	if err != nil || cfg.Store.Retention.Duration != 14*24*time.Hour {
		t.Errorf("retention = 2w: %v, %v", cfg, err)
	}
	for in, want := range map[string]int64{"64MiB": 64 << 20, "10MB": 10e6, "4096": 4096, "1 GiB": 1 << 30} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSize("lots"); err == nil {
		t.Error("ParseSize accepted lots")
	}
}

func TestPathsAndToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "b.toml")
	if err := os.WriteFile(file, []byte("[portal]\ntoken_file = \"token\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Path(cfg.Agent.DataDir); got != filepath.Join(dir, "data") {
		t.Errorf("data dir = %q", got)
	}
	tok, err := cfg.Token()
	if err != nil || tok != "s3cret" {
		t.Errorf("token = %q, %v", tok, err)
	}
}

// TestTypeErrorsAllReported: the decoder stops at the first value of the
// wrong type; check must still list every one, and the other problems of
// the file with them.
func TestTypeErrorsAllReported(t *testing.T) {
	text := `[agent]
workers = "eight"
log_level = "loud"

[portal]
listen = "127.0.0.1:99999"

[[probe]]
name = "a"
interval = 300
[probe.allow]
exec = "tmux"

[[probe]]
name = "b"
interval = "1s"
timeout = "2s"
`
	_, err := Parse("x.toml", []byte(text))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`x.toml:2: agent.workers: incompatible types`,
		`x.toml:3: agent.log_level: "loud" is not one of`,
		`x.toml:6: portal.listen: "127.0.0.1:99999": port 99999 is not a TCP port (1-65535)`,
		`x.toml:10: probe.interval: bad duration "300"`,
		`x.toml:12: probe.allow.exec: incompatible types`,
		`x.toml:17: probe.timeout: probe "b": 2s must be shorter than interval 1s`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "unknown key") {
		t.Errorf("a key of the wrong type was called unknown:\n%v", err)
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 6 {
		t.Errorf("%d problems, want 6:\n%v", n, err)
	}

	// A drop-in's probe file too.
	_, err = ParseProbe("d.toml", []byte("interval = 5\ntimeout = true\n[allow]\nread = \"/etc\"\n"), ProbeFile{Name: "d", Source: "d.wasm"})
	for _, want := range []string{"d.toml:1: interval:", "d.toml:2: timeout:", "d.toml:4: allow.read:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("probe file: missing %q in:\n%v", want, err)
		}
	}
}

func TestListenAddress(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "",
		"[::1]:9100":     "",
		"localhost:http": "",
		"127.0.0.1:0":    "", // any free port: tests use it
		"127.0.0.1":      "is not host:port",
		":99999":         "port 99999 is not a TCP port",
		"127.0.0.1:-1":   "port -1 is not a TCP port",
		"127.0.0.1:nope": `port "nope" is neither a number nor a service`,
	} {
		err := checkListen(listen)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkListen(%q) = %v, want %q", listen, err, want)
		}
	}
}

// A drop-in's [limits] is its [probe.limits], checked the same way.
func TestProbeFileLimits(t *testing.T) {
	pf := ProbeFile{Name: "d", Source: "/x/d.wasm", Retention: DefaultRetention}
	p, err := ParseProbe("d.toml", []byte("interval = \"1m\"\n[limits]\nmax_series = 50\n"), pf)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Limits.Or(DefaultLimits()); got.MaxSeries != 50 || got.MaxMetrics != DefaultLimits().MaxMetrics {
		t.Errorf("limits %+v", got)
	}
	_, err = ParseProbe("d.toml", []byte("interval = \"1m\"\n[limits]\nmax_series = -5\n"), pf)
	if err == nil || !strings.Contains(err.Error(), "d.toml:3: limits.max_series: probe \"d\": -5 is outside 1..10000000") {
		t.Errorf("error %v", err)
	}
}
