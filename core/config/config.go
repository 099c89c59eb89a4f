// Package config reads barbossa.toml: it decodes the file, fills defaults and
// checks everything a running agent depends on, so a bad file stops the agent
// before it starts, with an error naming the file, the line and the key.
//
//	cfg, err := config.Load("barbossa.toml")
//	if err != nil {
//		log.Fatal(err) // barbossa.toml:14: probe "disk": timeout 1m must be shorter than interval 30s
//	}
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/core/limits"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Runtimes a probe can run in.
const (
	RuntimeBuiltin = "builtin"
	RuntimeWASM    = "wasm"
	RuntimePlugin  = "plugin"
)

// Config is the whole file.
type Config struct {
	Agent  Agent   `toml:"agent"`
	Portal Portal  `toml:"portal"`
	Store  Store   `toml:"store"`
	Limits Limits  `toml:"limits"`
	Probes []Probe `toml:"probe"`

	Alerting Alerting `toml:"alerting"`
	Alerts   []Alert  `toml:"alert"`
	Notify   []Notify `toml:"notify"`

	// File is where the config came from ("" or "(embedded)" for the default).
	File string   `toml:"-"`
	loc  *locator // the file's text, to locate keys in messages
}

// Agent is the [agent] table.
type Agent struct {
	DataDir   string `toml:"data_dir"`
	LogLevel  string `toml:"log_level"`
	LogFormat string `toml:"log_format"`
	Workers   int    `toml:"workers"`
	ProbesDir string `toml:"probes_dir"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT); 0 leaves it alone.
	MemoryLimit Size `toml:"memory_limit"`
	// MaxModuleSize bounds a .wasm file the agent reads: a drop-in's or a
	// [[probe]]'s source.
	MaxModuleSize Size `toml:"max_module_size"`
}

// Portal is the [portal] table.
type Portal struct {
	Listen    string  `toml:"listen"`
	Token     string  `toml:"token"`
	TokenFile string  `toml:"token_file"`
	TLSCert   string  `toml:"tls_cert"`
	TLSKey    string  `toml:"tls_key"`
	Actions   Actions `toml:"actions"`
	// Hosts are names, beyond localhost and IP addresses, that requests
	// may carry in their Host header when no token is set (portal.go).
	Hosts []string `toml:"hosts"`
	// InsecureNoToken lets the portal listen beyond loopback with no token.
	InsecureNoToken bool `toml:"insecure_no_token"`
	// PProf serves Go's profiler at /debug/pprof/ (behind the token; it
	// needs one).
	PProf bool `toml:"pprof"`
}

// Actions is [portal.actions]: which units and containers POST
// /api/v1/actions may start, stop or restart. Nothing is granted unless
// listed, and no action runs without a portal token.
type Actions struct {
	// Units are glob patterns (path.Match) of unit names: "nginx.service",
	// "app-*.service".
	Units []string `toml:"units"`
	// Containers are glob patterns of container names: "web-*".
	Containers []string `toml:"containers"`
	// Bus is the D-Bus the agent asks systemd on: "system" (the default;
	// DBUS_SYSTEM_BUS_ADDRESS is honoured) or an address.
	Bus string `toml:"bus"`
	// Socket is the Docker Engine's unix socket.
	Socket string `toml:"socket"`
	// Timeout bounds one action: the job systemd runs, or Docker's stop
	// (which waits 10 s for the container before killing it).
	Timeout Duration `toml:"timeout"`
}

// Defaults of [portal.actions].
const (
	DefaultActionsBus     = "system"
	DefaultActionsSocket  = "/var/run/docker.sock"
	DefaultActionsTimeout = time.Minute
)

func (a *Actions) applyDefaults() {
	if a.Bus == "" {
		a.Bus = DefaultActionsBus
	}
	a.Socket = strings.TrimPrefix(a.Socket, "unix://")
	if a.Socket == "" {
		a.Socket = DefaultActionsSocket
	}
	if a.Timeout.Duration == 0 {
		a.Timeout.Duration = DefaultActionsTimeout
	}
}

// check returns problems as (key under portal.actions, message).
func (a *Actions) check() [][2]string {
	var errs [][2]string
	for _, list := range []struct {
		key   string
		globs []string
	}{{"units", a.Units}, {"containers", a.Containers}} {
		for _, g := range list.globs {
			if err := sdk.CheckGlob(g); err != nil {
				errs = append(errs, [2]string{list.key, err.Error()})
			}
		}
	}
	if a.Bus != "system" && a.Bus != "session" && !strings.Contains(a.Bus, ":") {
		errs = append(errs, [2]string{"bus", fmt.Sprintf("%q is not system, session or a D-Bus address (unix:path=...)", a.Bus)})
	}
	if !filepath.IsAbs(a.Socket) {
		errs = append(errs, [2]string{"socket", fmt.Sprintf("%q must be an absolute path", a.Socket)})
	}
	if a.Timeout.Duration < time.Second || a.Timeout.Duration > 10*time.Minute {
		errs = append(errs, [2]string{"timeout", fmt.Sprintf("%s is outside 1s..10m", a.Timeout.Duration)})
	}
	return errs
}

// Store is the [store] table.
type Store struct {
	Retention     Duration `toml:"retention"`
	BatchSize     int      `toml:"batch_size"`
	FlushInterval Duration `toml:"flush_interval"`
	// MinFree is the free space below which the store stops writing (and
	// above 5/4 of which it writes again): room for what Badger may still
	// write after it stops, so that a full disk never crashes the agent.
	MinFree Size `toml:"min_free"`
}

// Limits is [limits], what any probe's report may carry, and
// [probe.limits], one probe's own (a key it leaves out takes [limits]'s).
// What is over is dropped and counted (see core/limits).
type Limits struct {
	MaxMetrics         int      `toml:"max_metrics"`
	MaxEntities        int      `toml:"max_entities"`
	MaxNameBytes       int      `toml:"max_name_bytes"`
	MaxLabels          int      `toml:"max_labels"`
	MaxLabelNameBytes  int      `toml:"max_label_name_bytes"`
	MaxLabelValueBytes int      `toml:"max_label_value_bytes"`
	MaxSeries          int      `toml:"max_series"`
	SeriesIdle         Duration `toml:"series_idle"`
	// MaxDepth is not a guard's but the report decoder's: a WASM or plugin
	// probe's report nested deeper is refused whole (abi.DecodeReport).
	MaxDepth int `toml:"max_depth"`
}

// DefaultLimits is what [limits] says when it says nothing.
func DefaultLimits() Limits {
	d := limits.Defaults()
	return Limits{
		MaxMetrics: d.Metrics, MaxEntities: d.Entities, MaxNameBytes: d.NameBytes, MaxLabels: d.Labels,
		MaxLabelNameBytes: d.LabelNameBytes, MaxLabelValueBytes: d.LabelValueBytes,
		MaxSeries: d.Series, SeriesIdle: Duration{Duration: d.SeriesIdle},
		MaxDepth: abi.DefaultMaxDepth,
	}
}

// Or returns l with each key it leaves out (zero) taken from d.
func (l Limits) Or(d Limits) Limits {
	pick := func(v, dv int) int {
		if v == 0 {
			return dv
		}
		return v
	}
	out := Limits{
		MaxMetrics:         pick(l.MaxMetrics, d.MaxMetrics),
		MaxEntities:        pick(l.MaxEntities, d.MaxEntities),
		MaxNameBytes:       pick(l.MaxNameBytes, d.MaxNameBytes),
		MaxLabels:          pick(l.MaxLabels, d.MaxLabels),
		MaxLabelNameBytes:  pick(l.MaxLabelNameBytes, d.MaxLabelNameBytes),
		MaxLabelValueBytes: pick(l.MaxLabelValueBytes, d.MaxLabelValueBytes),
		MaxSeries:          pick(l.MaxSeries, d.MaxSeries),
		SeriesIdle:         l.SeriesIdle,
		MaxDepth:           pick(l.MaxDepth, d.MaxDepth),
	}
	if out.SeriesIdle.Duration == 0 {
		out.SeriesIdle = d.SeriesIdle
	}
	return out
}

// Config is l as core/limits applies it; l must have every key set (Or
// with [limits], which has the defaults).
func (l Limits) Config() limits.Config {
	return limits.Config{
		Metrics: l.MaxMetrics, Entities: l.MaxEntities, NameBytes: l.MaxNameBytes, Labels: l.MaxLabels,
		LabelNameBytes: l.MaxLabelNameBytes, LabelValueBytes: l.MaxLabelValueBytes,
		Series: l.MaxSeries, SeriesIdle: l.SeriesIdle.Duration,
	}
}

// limitCaps are the values each key takes. Names are capped
// well under the 65,000-byte keys of the store; the rest bound what one
// probe may cost. max_depth's bounds are abi's: the least a plain report
// needs, and the most the agent's decoders recurse.
var limitCaps = []struct {
	key      string
	min, max int
	get      func(*Limits) int
}{
	{"max_metrics", 1, 1_000_000, func(l *Limits) int { return l.MaxMetrics }},
	{"max_entities", 1, 1_000_000, func(l *Limits) int { return l.MaxEntities }},
	{"max_name_bytes", 1, 4096, func(l *Limits) int { return l.MaxNameBytes }},
	{"max_labels", 1, 256, func(l *Limits) int { return l.MaxLabels }},
	{"max_label_name_bytes", 1, 4096, func(l *Limits) int { return l.MaxLabelNameBytes }},
	{"max_label_value_bytes", 1, 65536, func(l *Limits) int { return l.MaxLabelValueBytes }},
	{"max_series", 1, 10_000_000, func(l *Limits) int { return l.MaxSeries }},
	{"max_depth", abi.MinMaxDepth, abi.MaxMaxDepth, func(l *Limits) int { return l.MaxDepth }},
}

// check returns problems as (key under limits, message). Zero is "not
// set" and always allowed.
func (l *Limits) check() []FieldError {
	var errs []FieldError
	for _, c := range limitCaps {
		if v := c.get(l); v != 0 && (v < c.min || v > c.max) {
			errs = append(errs, FieldError{"limits." + c.key, fmt.Sprintf("%d is outside %d..%d", v, c.min, c.max)})
		}
	}
	if d := l.SeriesIdle.Duration; d != 0 && (d < time.Minute || d > 30*24*time.Hour) {
		errs = append(errs, FieldError{"limits.series_idle", fmt.Sprintf("%s is outside 1m..30d", sdk.FormatDuration(d))})
	}
	return errs
}

// Probe is one [[probe]] entry: one instance of a probe.
type Probe struct {
	Name       string         `toml:"name"`
	Runtime    string         `toml:"runtime"`
	Source     string         `toml:"source"`
	Kind       string         `toml:"kind"`
	Interval   Duration       `toml:"interval"`
	Timeout    Duration       `toml:"timeout"`
	Retention  Duration       `toml:"retention"`
	StaleAfter Duration       `toml:"stale_after"`
	Disabled   bool           `toml:"disabled"`
	MaxMemory  Size           `toml:"max_memory"`
	SHA256     string         `toml:"sha256"`
	Limits     Limits         `toml:"limits"`
	Allow      Allow          `toml:"allow"`
	Config     map[string]any `toml:"config"`

	// Line is where the entry starts in its file, for messages about it.
	Line   int     `toml:"-"`
	origin *origin // where its keys are written (Errorf)
}

// Same says whether two entries run the same probe the same way: every
// key equal, wherever in its file each is written.
func (p Probe) Same(q Probe) bool {
	p.Line, q.Line = 0, 0
	p.origin, q.origin = nil, nil
	return reflect.DeepEqual(p, q)
}

// Allow is [probe.allow]: the host capabilities granted to a sandboxed probe.
// Nothing is granted unless listed.
type Allow struct {
	Exec []string `toml:"exec"`
	HTTP []string `toml:"http"`
	DBus []string `toml:"dbus"`
	Read []string `toml:"read"`
	// MaxDirEntries bounds a directory listing under Read (0: 10,000).
	MaxDirEntries int `toml:"max_dir_entries"`
}

// Defaults applied to keys the file leaves out.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultInterval      = 30 * time.Second
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultBatchSize     = 1000
	DefaultFlushInterval = time.Second
	DefaultMaxMemory     = 64 << 20
	// DefaultMaxModuleSize is 3-4 times a Go guest with encoding/json; compiling a module
	// takes about 3 times its size in memory.
	DefaultMaxModuleSize = 16 << 20
	DefaultMinFree       = 256 << 20
	MinMinFree           = 64 << 20 // a 16 MiB reserve: two memtables' flush
)

// Error is one problem in a config file, located as precisely as possible.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and checks config text; name labels errors and anchors
// relative paths (its directory), or "" for the current directory.
func Parse(name string, data []byte) (*Config, error) {
	cfg, err := ParseAll(name, data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseAll is Parse for `barbossa check`: it returns the config even when
// it has problems (nil only when the TOML cannot be decoded), defaults
// filled, so that check can go on to find what the agent would refuse
// later and report it all at once. A config with problems must not run.
func ParseAll(name string, data []byte) (*Config, error) {
	cfg := &Config{}
	loc := newLocator(data)
	md, errs, typeErr, err := decode(name, data, cfg, func(key []string, index int) int { return loc.keyLine(key, index) })
	if err != nil {
		return nil, err
	}
	cfg.File = name
	cfg.locateProbes(loc)
	for _, u := range undecoded(md) {
		if !typeErr[u.key.String()] {
			errs = append(errs, &Error{File: name, Line: loc.keyLine(u.key, u.index), Key: u.key.String(), Msg: "unknown key"})
		}
	}
	cfg.applyDefaults()
	errs = append(errs, cfg.check(loc)...)
	return cfg, errors.Join(errs...)
}

type unknownKey struct {
	key   toml.Key
	index int // index of the [[probe]], [[alert]] or [[notify]] the key is in, or -1
}

// undecoded lists keys that mapped onto nothing, except those under the free
// [probe.config] tables, which belong to the probe.
func undecoded(md toml.MetaData) []unknownKey {
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		unknown[k.String()] = true
	}
	var out []unknownKey
	index := map[string]int{"probe": -1, "alert": -1, "notify": -1} // the arrays of tables
	for _, k := range md.Keys() {
		if _, array := index[k.String()]; array {
			index[k.String()]++
		}
		if !unknown[k.String()] || len(k) >= 2 && k[0] == "probe" && k[1] == "config" {
			continue
		}
		delete(unknown, k.String()) // a key repeated in each [[probe]] is reported once
		at, array := index[k[0]]
		if !array {
			at = -1
		}
		out = append(out, unknownKey{k, at})
	}
	return out
}

func (c *Config) locateProbes(loc *locator) {
	c.loc = loc
	for i := range c.Probes {
		c.Probes[i].Line = loc.tableLine("probe", i)
		c.Probes[i].origin = &origin{file: c.File, loc: loc, index: i}
	}
	for i := range c.Alerts {
		c.Alerts[i].Line = loc.tableLine("alert", i)
	}
	for i := range c.Notify {
		c.Notify[i].Line = loc.tableLine("notify", i)
	}
}

// Dir is the directory relative paths in the config are anchored to.
func (c *Config) Dir() string {
	if c.File == "" || strings.HasPrefix(c.File, "(") {
		return "."
	}
	return filepath.Dir(c.File)
}

// Path resolves p against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir(), p)
}

func (c *Config) applyDefaults() {
	a := &c.Agent
	if a.DataDir == "" {
		a.DataDir = "data"
	}
	if a.LogLevel == "" {
		a.LogLevel = "info"
	}
	if a.LogFormat == "" {
		a.LogFormat = "text"
	}
	if a.Workers == 0 {
		a.Workers = max(4, 2*runtime.NumCPU())
	}
	if a.ProbesDir == "" {
		a.ProbesDir = "probes.d"
	}
	if a.MaxModuleSize == 0 {
		a.MaxModuleSize = DefaultMaxModuleSize
	}
	if c.Portal.Listen == "" {
		c.Portal.Listen = DefaultListen
	}
	c.Portal.Actions.applyDefaults()
	s := &c.Store
	if s.Retention.Duration == 0 {
		s.Retention.Duration = DefaultRetention
	}
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.FlushInterval.Duration == 0 {
		s.FlushInterval.Duration = DefaultFlushInterval
	}
	if s.MinFree == 0 {
		s.MinFree = DefaultMinFree
	}
	c.Limits = c.Limits.Or(DefaultLimits())
	for i := range c.Probes {
		c.Probes[i].ApplyDefaults(s.Retention.Duration)
	}
	c.Alerting.applyDefaults()
	for i := range c.Alerts {
		c.Alerts[i].applyDefaults()
	}
	for i := range c.Notify {
		c.Notify[i].applyDefaults(c.Alerting)
	}
}

// ApplyDefaults fills what a [[probe]] entry leaves out.
func (p *Probe) ApplyDefaults(retention time.Duration) {
	if p.Runtime == "" {
		p.Runtime = RuntimeBuiltin
	}
	if p.Source == "" && p.Name != "" {
		p.Source = "builtin:" + p.Name
	}
	if p.Interval.Duration == 0 {
		p.Interval.Duration = DefaultInterval
	}
	if p.Timeout.Duration == 0 {
		p.Timeout.Duration = min(10*time.Second, p.Interval.Duration/2)
	}
	if p.Retention.Duration == 0 {
		p.Retention.Duration = retention
	}
	if p.StaleAfter.Duration == 0 {
		p.StaleAfter.Duration = 3 * p.Interval.Duration
	}
	if p.MaxMemory == 0 {
		p.MaxMemory = DefaultMaxMemory
	}
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	runtimes   = []string{RuntimeBuiltin, RuntimeWASM, RuntimePlugin}
)

func (c *Config) check(loc *locator) []error {
	var errs []error
	bad := func(table string, index int, key, format string, args ...any) {
		errs = append(errs, &Error{File: c.File, Line: loc.line(table, index, key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !oneOf(c.Agent.LogLevel, logLevels) {
		bad("agent", 0, "agent.log_level", "%q is not one of %s", c.Agent.LogLevel, strings.Join(logLevels, ", "))
	}
	if !oneOf(c.Agent.LogFormat, logFormats) {
		bad("agent", 0, "agent.log_format", "%q is not one of %s", c.Agent.LogFormat, strings.Join(logFormats, ", "))
	}
	if c.Agent.Workers < 1 {
		bad("agent", 0, "agent.workers", "must be at least 1")
	}
	if c.Store.BatchSize < 1 {
		bad("store", 0, "store.batch_size", "must be at least 1")
	}
	if err := checkListen(c.Portal.Listen); err != nil {
		bad("portal", 0, "portal.listen", "%q: %v", c.Portal.Listen, err)
	}
	if c.Store.MinFree < MinMinFree {
		bad("store", 0, "store.min_free", "%d bytes is below %d MiB: the store needs room for Badger's last flush and running compactions when it stops writing", c.Store.MinFree, MinMinFree>>20)
	}
	for _, e := range c.Limits.check() {
		bad("limits", 0, e.key, "%s", e.msg)
	}
	if c.Portal.Token != "" && c.Portal.TokenFile != "" {
		bad("portal", 0, "portal.token_file", "set token or token_file, not both")
	}
	if (c.Portal.TLSCert == "") != (c.Portal.TLSKey == "") {
		bad("portal", 0, "portal.tls_cert", "tls_cert and tls_key go together")
	}
	for _, e := range c.Portal.Actions.check() {
		bad("portal", 0, "portal.actions."+e[0], "%s", e[1])
	}
	errs = append(errs, c.checkExposure()...)
	for key, path := range map[string]string{"agent.data_dir": c.Agent.DataDir, "agent.probes_dir": c.Agent.ProbesDir,
		"portal.token_file": c.Portal.TokenFile, "portal.tls_cert": c.Portal.TLSCert, "portal.tls_key": c.Portal.TLSKey} {
		if strings.ContainsRune(path, 0) {
			errs = append(errs, c.Errorf(key, "%q holds a NUL byte, which no path can", path))
		}
	}
	if c.Agent.MaxModuleSize < 1<<10 {
		bad("agent", 0, "agent.max_module_size", "%d bytes is too small for any module (at least 1KiB)", c.Agent.MaxModuleSize)
	}
	seen := map[string]int{}
	for i := range c.Probes {
		for _, e := range c.Probes[i].Check() {
			bad("probe", i, "probe."+e.key, "probe %q: %s", c.Probes[i].Name, e.msg)
		}
		name := c.Probes[i].Name
		if first, dup := seen[name]; dup && name != "" {
			bad("probe", i, "probe.name", "duplicate probe name %q (first defined on line %d)", name, c.Probes[first].Line)
		} else {
			seen[name] = i
		}
	}
	errs = append(errs, c.checkAlerts(loc)...)
	return errs
}

// checkListen refuses a listen address the portal could never bind: not
// host:port, or a port outside 0-65535 (0 picks a free one) that is not a
// service name either.
func checkListen(listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("is not host:port (127.0.0.1:8080, [::1]:8080, :8080)")
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("port %q is neither a number nor a service name", port)
		}
		return nil
	}
	if n < 0 || n > 65535 {
		return fmt.Errorf("port %d is not a TCP port (1-65535)", n)
	}
	return nil
}

// FieldError is a problem with one key of a [[probe]] entry.
type FieldError struct{ key, msg string }

func (e FieldError) Error() string { return e.key + ": " + e.msg }

// Key is the probe key at fault, such as "timeout".
func (e FieldError) Key() string { return e.key }

// Check validates one probe entry after defaults were applied. It is shared
// by the main file and drop-in probe files.
func (p *Probe) Check() []FieldError {
	var errs []FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{key, fmt.Sprintf(format, args...)})
	}
	if p.Name == "" {
		bad("name", "is required")
	} else if !validName(p.Name) {
		bad("name", "%q may hold only letters, digits, '-', '_' and '.'", p.Name)
	}
	if !oneOf(p.Runtime, runtimes) {
		bad("runtime", "%q is not one of %s", p.Runtime, strings.Join(runtimes, ", "))
	}
	if p.Runtime == RuntimeBuiltin && !strings.HasPrefix(p.Source, "builtin:") {
		bad("source", "%q: a builtin probe's source is builtin:<name>", p.Source)
	}
	if p.Kind != "" && strings.HasPrefix(p.Source, "builtin:") {
		bad("kind", "%q: kind picks a probe in a .wasm module or a plugin binary; %s names its probe already", p.Kind, p.Source)
	} else if p.Kind != "" && !validName(p.Kind) {
		bad("kind", "%q may hold only letters, digits, '-', '_' and '.'", p.Kind)
	}
	if p.Runtime == RuntimePlugin && strings.HasPrefix(p.Source, "builtin:") {
		bad("source", "a plugin probe's source is the path to its binary")
	}
	if strings.ContainsRune(p.Source, 0) {
		bad("source", "%q holds a NUL byte, which no path can", p.Source)
	}
	if p.Interval.Duration < 100*time.Millisecond {
		bad("interval", "%s is too short (at least 100ms)", p.Interval.Duration)
	}
	if p.Timeout.Duration >= p.Interval.Duration {
		bad("timeout", "%s must be shorter than interval %s", p.Timeout.Duration, p.Interval.Duration)
	}
	if p.SHA256 != "" && (len(p.SHA256) != 64 || strings.Trim(strings.ToLower(p.SHA256), "0123456789abcdef") != "") {
		bad("sha256", "must be 64 hexadecimal digits")
	}
	errs = append(errs, p.Limits.check()...)
	if p.Runtime == RuntimeWASM && p.MaxMemory < 41*64<<10 {
		bad("max_memory", "%d bytes is below what a Go guest needs (41 pages, 2.6 MiB)", p.MaxMemory)
	}
	return errs
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Token returns the portal token, read from token_file when one is set. A
// token_file that is a folder, unreadable, or empty (whitespace only) is an
// error: it must never silently turn authentication off.
func (c *Config) Token() (string, error) {
	if c.Portal.TokenFile == "" {
		return c.Portal.Token, nil
	}
	return readToken(c.Path(c.Portal.TokenFile), "portal.token_file", c.Errorf)
}

// The decoder reports type mismatches as plain text with the line inside.
var decodeErrorText = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func decodeError(file string, err error) *Error {
	m := decodeErrorText.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: file, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	return &Error{File: file, Line: line, Key: m[2], Msg: m[3]}
}
