package hostfuncs

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Grants are what one probe may do, from its [probe.allow] TOML table.
// Nothing is allowed unless listed.
//
//	[probe.allow]
//	exec = ["tmux -S * list-sessions -F #{session_name}", # a program and the argv it may get
//	        "/usr/bin/uptime"]                  # a bare program: any argv
//	http = ["GET unix:///var/run/docker.sock /containers/json /containers/*/json",
//	        "http://127.0.0.1:9100/"]
//	dbus = ["org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits"]
//	read = ["/proc/loadavg", "/sys/class/net"] # path prefixes
type Grants struct {
	// Exec lists programs, each with the arguments it may be given:
	// "PROGRAM [ARG...]". PROGRAM is a name, looked up in PATH's absolute
	// folders when the grant is made (argv[0] must then be the name or the
	// resolved path), or an absolute path (argv[0] must be that path). With
	// no ARG the program may get any arguments: for most programs (tmux,
	// git, find) that is a shell. Otherwise argv[1:] must match the ARGs
	// one by one: a word matches itself, * any one argument, and a last **
	// any further arguments (none included). Words are separated by spaces;
	// '...' or "..." quotes a word (or part of one) holding spaces, or a
	// literal * or **. See parseExecGrant.
	Exec []string `toml:"exec" json:"exec,omitempty"`
	// HTTP lists unix sockets as unix:///path and URL prefixes
	// (scheme, host and port must match exactly, the path on a "/" boundary),
	// each optionally narrowed: "[METHODS] TARGET [PATH...]". METHODS is
	// one method or several joined by commas (GET,HEAD), any when left out;
	// PATHs are path.Match patterns the request's path must match
	// (/containers/*/json), any path under TARGET when left out.
	HTTP []string `toml:"http" json:"http,omitempty"`
	// DBus lists calls as "[BUS] DESTINATION INTERFACE.MEMBER"; BUS is
	// system (the default), session, or a D-Bus address; MEMBER may be *.
	DBus []string `toml:"dbus" json:"dbus,omitempty"`
	// Read lists absolute path prefixes, on a "/" boundary, checked before
	// and after symlinks are resolved.
	Read []string `toml:"read" json:"read,omitempty"`
	// MaxDirEntries bounds a listing under Read; 0 is the default, 10,000.
	// A listing cut there says so ("truncated"), so a count is never
	// silently short. The guest's memory bounds it too, as every answer.
	MaxDirEntries int `toml:"max_dir_entries" json:"max_dir_entries,omitempty"`
}

// policy is Grants checked and resolved once, when the probe is made.
type policy struct {
	exec    []execGrant
	http    []httpGrant
	dbus    []dbusGrant
	read    []string // prefixes as written, cleaned
	readAbs []string // the same prefixes with symlinks resolved
	// dirEntries is the most entries a listing holds.
	dirEntries int
}

// execGrant is one exec grant: a program and the argv it may get.
type execGrant struct {
	name string // as granted: "tmux" or "/usr/bin/tmux"
	path string // absolute path; "" when a name is not in PATH (yet)
	// args are the patterns of argv[1:]; nil with anyArgs for a bare
	// program. rest: the last pattern was **.
	args    []argPattern
	anyArgs bool
	rest    bool
}

// argPattern matches one argument: lit exactly, or any argument when any.
type argPattern struct {
	lit string
	any bool
}

// httpGrant is one http grant: a unix socket or a URL prefix, with the
// methods (nil: any) and path patterns (nil: any) it allows.
type httpGrant struct {
	socket  string   // cleaned socket path, or ""
	url     *url.URL // URL prefix when socket is ""
	methods []string
	paths   []string
}

type dbusGrant struct {
	bus, destination, iface, member string
}

// Check compiles g as NewCaller does, without making a caller: it returns
// what NewCaller would refuse, every bad grant joined. `barbossa check`
// uses it to report a bad grant before the agent runs.
func (g Grants) Check() error {
	_, err := compile(g)
	return err
}

// Warnings says which of g's grants are wider than they read: a program
// granted alone may be given any arguments, and for tmux, git, find, env
// and most others that is a shell as the agent's user. The agent logs them
// when it makes the probe; `barbossa check` prints them.
func (g Grants) Warnings() []string {
	var out []string
	for _, s := range g.Exec {
		if eg, err := parseExecGrant(s); err == nil && eg.anyArgs {
			out = append(out, fmt.Sprintf("%q lets the probe run %s with any arguments (for most programs, a shell): "+
				"name the arguments after it, as in %q (docs/CONFIG.md, allow.exec)", s, eg.name, eg.name+" --version"))
		}
	}
	return out
}

// compile checks g and resolves what it names. A program missing from PATH
// is not an error (it may be installed later; the call then fails).
func compile(g Grants) (*policy, error) {
	p := &policy{dirEntries: defaultDirEntries}
	var errs []error
	switch {
	case g.MaxDirEntries < 0:
		errs = append(errs, fmt.Errorf("max_dir_entries: %d is negative", g.MaxDirEntries))
	case g.MaxDirEntries > maxDirEntriesCap:
		errs = append(errs, fmt.Errorf("max_dir_entries: %d is over the most a listing can hold (%d)", g.MaxDirEntries, maxDirEntriesCap))
	case g.MaxDirEntries > 0:
		p.dirEntries = g.MaxDirEntries
	}
	for _, e := range g.Exec {
		eg, err := parseExecGrant(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("exec: %q: %w", e, err))
			continue
		}
		p.exec = append(p.exec, eg)
	}
	for _, h := range g.HTTP {
		hg, err := parseHTTPGrant(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("http: %q: %w", h, err))
			continue
		}
		p.http = append(p.http, hg)
	}
	for _, d := range g.DBus {
		dg, err := parseDBusGrant(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.dbus = append(p.dbus, dg)
	}
	for _, r := range g.Read {
		if !filepath.IsAbs(r) {
			errs = append(errs, fmt.Errorf("read: %q: a path prefix must be absolute", r))
			continue
		}
		clean := filepath.Clean(r)
		p.read = append(p.read, clean)
		if abs, err := filepath.EvalSymlinks(clean); err == nil {
			p.readAbs = append(p.readAbs, abs)
		} else {
			p.readAbs = append(p.readAbs, clean)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	return p, nil
}

// parseExecGrant reads "PROGRAM [ARG...]" (Grants.Exec).
func parseExecGrant(s string) (execGrant, error) {
	words, err := splitWords(s)
	if err != nil {
		return execGrant{}, err
	}
	if len(words) == 0 {
		return execGrant{}, errors.New("empty program name")
	}
	prog := words[0]
	switch {
	case prog.wild != "" || prog.text == "":
		return execGrant{}, errors.New("the program must be named, not a pattern")
	case strings.Contains(prog.text, "/") && !filepath.IsAbs(prog.text):
		return execGrant{}, errors.New("a path must be absolute")
	}
	g := execGrant{name: prog.text, anyArgs: len(words) == 1}
	if filepath.IsAbs(prog.text) {
		g.name = filepath.Clean(prog.text)
		g.path = g.name
	} else if found, err := lookPath(prog.text); err == nil {
		g.path = found
	}
	for i, w := range words[1:] {
		switch w.wild {
		case "**":
			if i != len(words)-2 {
				return execGrant{}, errors.New("** (any further arguments) must be the last word")
			}
			g.rest = true
		case "*":
			g.args = append(g.args, argPattern{any: true})
		default:
			g.args = append(g.args, argPattern{lit: w.text})
		}
	}
	return g, nil
}

// word is one word of an exec grant: text, or the wildcard * or ** when
// wild is set (written unquoted and alone).
type word struct {
	text, wild string
}

// splitWords splits an exec grant into words: runs of characters other
// than spaces, in which '...' and "..." quote what they hold (spaces, *,
// the other quote; there are no escapes). An unquoted * or ** word is a
// wildcard. A NUL cannot be passed to a program, and is refused.
func splitWords(s string) ([]word, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("a NUL byte cannot be in an argument")
	}
	var (
		words   []word
		cur     strings.Builder
		inWord  bool
		quoted  bool // some of cur was quoted
		inQuote byte
	)
	end := func() {
		if !inWord {
			return
		}
		w := word{text: cur.String()}
		if !quoted && (w.text == "*" || w.text == "**") {
			w = word{wild: w.text}
		}
		words = append(words, w)
		cur.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			inQuote, inWord, quoted = c, true, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			end()
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", inQuote)
	}
	end()
	return words, nil
}

// matches reports whether args (argv[1:]) fit the grant's patterns.
func (g execGrant) matches(args []string) bool {
	if g.anyArgs {
		return true
	}
	if len(args) < len(g.args) || (!g.rest && len(args) != len(g.args)) {
		return false
	}
	for i, p := range g.args {
		if !p.any && args[i] != p.lit {
			return false
		}
	}
	return true
}

// execPath returns the program to run for argv; program is whether argv[0]
// is granted at all, and args whether with these arguments.
func (p *policy) execPath(argv []string) (path string, program, args bool) {
	for _, g := range p.exec {
		if argv[0] != g.name && (g.path == "" || argv[0] != g.path) {
			continue
		}
		program = true
		if !g.matches(argv[1:]) {
			continue
		}
		if g.path == "" { // granted by name, not found when granted: look again
			found, err := lookPath(g.name)
			if err != nil {
				return "", true, true
			}
			return found, true, true
		}
		return g.path, true, true
	}
	return "", program, false
}

// lookPath finds a program in the absolute folders of PATH. An empty or
// relative element ("", ".", "bin") is skipped: it names a folder relative
// to the agent's working folder, where anyone who may write there could
// plant a program of the granted name (exec.ErrDot's concern). The search
// goes on past them, where exec.LookPath would stop.
func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not in PATH's absolute folders", name)
}

// absolutePath is PATH without its empty and relative elements, for the
// programs exec starts (they may look programs up too).
func absolutePath(path string) string {
	var keep []string
	for _, dir := range filepath.SplitList(path) {
		if filepath.IsAbs(dir) {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// parseHTTPGrant reads "[METHODS] TARGET [PATH...]".
func parseHTTPGrant(h string) (httpGrant, error) {
	var g httpGrant
	fields := strings.Fields(h)
	if len(fields) == 0 {
		return g, errors.New("empty grant")
	}
	if !strings.ContainsAny(fields[0], ":/") {
		for _, m := range strings.Split(fields[0], ",") {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
				return g, fmt.Errorf("%q is not a method list like GET or GET,HEAD", fields[0])
			}
			g.methods = append(g.methods, m)
		}
		fields = fields[1:]
		if len(fields) == 0 {
			return g, errors.New("methods but no target")
		}
	}
	u, err := url.Parse(fields[0])
	if err != nil {
		return g, err
	}
	if err := checkURLPath(u.Path); err != nil {
		return g, err
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return g, errors.New("a socket is written unix:///absolute/path")
		}
		g.socket = filepath.Clean(u.Path)
	case "http", "https":
		if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return g, errors.New("a URL prefix is scheme://host[:port][/path]")
		}
		u.Host = strings.ToLower(u.Host)
		g.url = u
	default:
		return g, errors.New("scheme must be http, https or unix")
	}
	for _, pat := range fields[1:] {
		if !strings.HasPrefix(pat, "/") {
			return g, fmt.Errorf("path pattern %q must start with /", pat)
		}
		if err := checkURLPath(pat); err != nil {
			return g, fmt.Errorf("path pattern %q: %w", pat, err)
		}
		if err := sdk.CheckGlob(pat); err != nil {
			return g, fmt.Errorf("path pattern: %w", err)
		}
		g.paths = append(g.paths, pat)
	}
	return g, nil
}

// allows reports whether the grant covers method and the (cleaned) path.
func (g httpGrant) allows(method, reqPath string) bool {
	if g.methods != nil && !slices.Contains(g.methods, method) {
		return false
	}
	if g.paths == nil {
		return true
	}
	return sdk.MatchGlob(g.paths, reqPath)
}

// socketGranted reports whether a request of method for u may go over the
// unix socket at sock.
func (p *policy) socketGranted(sock, method string, u *url.URL) bool {
	sock = filepath.Clean(strings.TrimPrefix(sock, "unix://"))
	for _, g := range p.http {
		if g.socket != "" && g.socket == sock && g.allows(method, cleanURLPath(u.Path)) {
			return true
		}
	}
	return false
}

// urlGranted reports whether a request of method to u is granted.
func (p *policy) urlGranted(method string, u *url.URL) bool {
	for _, g := range p.http {
		if g.url != nil && urlUnder(g.url, u) && g.allows(method, cleanURLPath(u.Path)) {
			return true
		}
	}
	return false
}

// urlUnder reports whether target is under the grant prefix: same scheme,
// host and port, no user info, and a path equal to the grant's or below it.
func urlUnder(grant, target *url.URL) bool {
	if target.Scheme != grant.Scheme || strings.ToLower(target.Host) != grant.Host || target.User != nil {
		return false
	}
	return pathUnder(grant.Path, cleanURLPath(target.Path))
}

func cleanURLPath(p string) string {
	if p == "" {
		return "/"
	}
	c := filepath.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// pathUnder reports whether path is prefix or below it, on a "/" boundary.
func pathUnder(prefix, path string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// readGranted reports whether a cleaned path as written falls under a prefix.
func (p *policy) readGranted(path string) bool {
	for _, r := range p.read {
		if pathUnder(r, path) {
			return true
		}
	}
	return p.readResolvedGranted(path)
}

// readResolvedGranted reports whether a path with symlinks resolved falls
// under a resolved prefix.
func (p *policy) readResolvedGranted(path string) bool {
	for _, r := range p.readAbs {
		if pathUnder(r, path) {
			return true
		}
	}
	return false
}

// parseDBusGrant reads "[BUS] DESTINATION INTERFACE.MEMBER" (MEMBER may
// be *), with names valid as the D-Bus specification defines them.
func parseDBusGrant(s string) (dbusGrant, error) {
	f := strings.Fields(s)
	var g dbusGrant
	switch len(f) {
	case 2:
		g.bus = "system"
	case 3:
		g.bus, f = f[0], f[1:]
	default:
		return g, fmt.Errorf("dbus: %q: want \"[BUS] DESTINATION INTERFACE.MEMBER\"", s)
	}
	g.destination = f[0]
	i := strings.LastIndexByte(f[1], '.')
	if i <= 0 || i == len(f[1])-1 {
		return g, fmt.Errorf("dbus: %q: want INTERFACE.MEMBER, got %q", s, f[1])
	}
	g.iface, g.member = f[1][:i], f[1][i+1:]
	errs := []error{checkBusName(g.destination), checkInterface(g.iface)}
	if g.member != "*" {
		errs = append(errs, checkMember(g.member))
	}
	if err := errors.Join(errs...); err != nil {
		return g, fmt.Errorf("dbus: %q: %w", s, err)
	}
	if g.destination == busDriver && g.member != "*" && !busReadOnly[f[1]] {
		return g, fmt.Errorf("dbus: %q: %s changes the connection or the bus, and is never granted", s, f[1])
	}
	return g, nil
}

func (p *policy) dbusGranted(bus, destination, iface, member string) bool {
	for _, g := range p.dbus {
		if g.bus == bus && g.destination == destination && g.iface == iface && (g.member == "*" || g.member == member) {
			return true
		}
	}
	return false
}
