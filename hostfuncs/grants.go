package hostfuncs

import (
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Grants are what one probe may do, from its [probe.allow] TOML table.
// Nothing is allowed unless listed.
//
//	[probe.allow]
//	exec = ["tmux"]                          # program names (PATH lookup) or absolute paths
//	http = ["GET unix:///var/run/docker.sock /containers/json /containers/*/json",
//	        "http://127.0.0.1:9100/"]
//	dbus = ["org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits"]
//	read = ["/proc", "/sys"]                 # path prefixes
type Grants struct {
	// Exec lists programs: a name is looked up in PATH when the grant is
	// made, and argv[0] must then be the name or the resolved path; an
	// absolute path must be given as argv[0] exactly.
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
}

// policy is Grants checked and resolved once, when the probe is made.
type policy struct {
	exec    []execGrant
	http    []httpGrant
	dbus    []dbusGrant
	read    []string // prefixes as written, cleaned
	readAbs []string // the same prefixes with symlinks resolved
}

type execGrant struct {
	name string // as granted: "tmux" or "/usr/bin/tmux"
	path string // absolute path; "" when a name is not in PATH (yet)
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

// compile checks g and resolves what it names. A program missing from PATH
// is not an error (it may be installed later; the call then fails).
func compile(g Grants) (*policy, error) {
	p := &policy{}
	var errs []error
	for _, e := range g.Exec {
		switch {
		case e == "":
			errs = append(errs, errors.New("exec: empty program name"))
		case strings.Contains(e, "/"):
			if !filepath.IsAbs(e) {
				errs = append(errs, fmt.Errorf("exec: %q: a path must be absolute", e))
				continue
			}
			p.exec = append(p.exec, execGrant{name: filepath.Clean(e), path: filepath.Clean(e)})
		default:
			path, _ := exec.LookPath(e)
			if path != "" {
				path, _ = filepath.Abs(path)
			}
			p.exec = append(p.exec, execGrant{name: e, path: path})
		}
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

// execPath returns the program to run for argv0, and whether it is granted.
func (p *policy) execPath(argv0 string) (path string, granted bool) {
	for _, g := range p.exec {
		if argv0 == g.name || (g.path != "" && argv0 == g.path) {
			if g.path == "" { // granted by name, not found when granted: look again
				found, err := exec.LookPath(g.name)
				if err != nil {
					return "", true
				}
				found, _ = filepath.Abs(found)
				return found, true
			}
			return g.path, true
		}
	}
	return "", false
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
		if _, err := path.Match(pat, "/"); err != nil {
			return g, fmt.Errorf("path pattern %q: %w", pat, err)
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
	for _, pat := range g.paths {
		if ok, _ := path.Match(pat, reqPath); ok {
			return true
		}
	}
	return false
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
