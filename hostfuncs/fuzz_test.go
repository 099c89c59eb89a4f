package hostfuncs

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
)

// The grant matchers' fuzz targets. Their seeds (f.Add and
// testdata/fuzz/FuzzX) run with every `go test`; `go test -fuzz FuzzX`
// looks for more.

// FuzzExecGrant: an argv built from a grant's own words (any argument where
// it has * or **) is granted, and changing one of its literal arguments
// makes it refused.
func FuzzExecGrant(f *testing.F) {
	f.Add("/bin/tmux list-sessions -F *", "#{session_name}", "x")
	f.Add("/bin/tmux -S * list-sessions -F '#{a} #{b}' ; list-panes -a", "/tmp/s", "")
	f.Add("/usr/bin/git status **", "--short", "-b")
	f.Add(`/bin/echo '*' "**" '' it"'"s`, "a", "b")
	f.Add("/bin/uptime", "-p", "")
	f.Add("/bin/x '", "a", "b")
	f.Fuzz(func(t *testing.T, grant, wild, extra string) {
		g, err := parseExecGrant(grant)
		if err != nil {
			return
		}
		if g.anyArgs {
			if !g.matches([]string{wild, extra}) {
				t.Fatalf("bare grant %q refused %q", grant, []string{wild, extra})
			}
			return
		}
		var args []string
		for _, p := range g.args {
			if p.any {
				args = append(args, wild)
			} else {
				args = append(args, p.lit)
			}
		}
		if g.rest {
			args = append(args, extra)
		}
		if !g.matches(args) {
			t.Fatalf("grant %q refused its own argv %q", grant, args)
		}
		for i, p := range g.args {
			if p.any {
				continue
			}
			changed := append([]string(nil), args...)
			changed[i] += "x"
			if g.matches(changed) {
				t.Fatalf("grant %q took %q, which changes literal %q", grant, changed, p.lit)
			}
		}
		if !g.rest && g.matches(append(args, extra)) {
			t.Fatalf("grant %q without ** took one more argument", grant)
		}
	})
}

// FuzzHTTPGrant: a URL a grant passes has no backslash or control
// character in its path, has the grant's scheme and host, and a path
// under the grant's once cleaned (what is sent).
func FuzzHTTPGrant(f *testing.F) {
	f.Add("http://127.0.0.1:9100/metrics", "GET", "http://127.0.0.1:9100/metrics/node")
	f.Add("http://127.0.0.1:9100/metrics", "GET", `http://127.0.0.1:9100/metrics/..\admin`)
	f.Add("http://127.0.0.1:9100/metrics", "GET", "http://127.0.0.1:9100/metrics/..%5cadmin")
	f.Add("http://127.0.0.1:9100/metrics", "GET", "http://127.0.0.1:9100/metrics/../admin")
	f.Add("GET,HEAD https://h/api /api/*/json", "HEAD", "https://H/api/x/json")
	f.Add("GET http://h/ /a/*", "POST", "http://h/a/b")
	f.Add("http://h/a", "GET", "http://user@h/a")
	f.Fuzz(func(t *testing.T, grant, method, rawURL string) {
		p, err := compile(Grants{HTTP: []string{grant}})
		if err != nil {
			return
		}
		u, err := url.Parse(rawURL)
		if err != nil || checkURLPath(u.Path) != nil {
			return
		}
		u.Path, u.RawPath = cleanURLPath(u.Path), ""
		if !p.urlGranted(method, u) {
			return
		}
		g := p.http[0]
		if strings.ContainsAny(u.Path, "\\\x00\r\n") {
			t.Fatalf("grant %q passed %q, whose path is %q", grant, rawURL, u.Path)
		}
		if u.Scheme != g.url.Scheme || strings.ToLower(u.Host) != g.url.Host || u.User != nil {
			t.Fatalf("grant %q passed %q: another origin", grant, rawURL)
		}
		if !pathUnder(g.url.Path, u.Path) || strings.Contains("/"+u.Path+"/", "/../") {
			t.Fatalf("grant %q passed %q: path %q is not under %q", grant, rawURL, u.Path, g.url.Path)
		}
		// What is sent parses back to what was checked.
		back, err := url.Parse(u.String())
		if err != nil || back.Path != u.Path {
			t.Fatalf("grant %q: %q is sent as %q, read back as %q (%v)", grant, rawURL, u.String(), back.Path, err)
		}
	})
}

// FuzzReadPath: a path a read grant passes is under the granted prefix
// once cleaned; and in procfs, a process's environment or memory is a
// secret however its path is written.
func FuzzReadPath(f *testing.F) {
	f.Add("/proc", "/proc/self/../1/environ", "1")
	f.Add("/srv/data", "/srv/data/../../etc/shadow", "42")
	f.Add("/", "/proc/thread-self/environ", "7")
	f.Add("/host/proc", "/host/proc/7/task/7/mem", "007")
	f.Fuzz(func(t *testing.T, prefix, path, pid string) {
		p, err := compile(Grants{Read: []string{prefix}})
		if err != nil || !filepath.IsAbs(path) {
			return
		}
		clean := filepath.Clean(path)
		if p.readGranted(clean) && !pathUnder(filepath.Clean(prefix), clean) && !p.readResolvedGranted(clean) {
			t.Fatalf("read = [%q] passed %q", prefix, clean)
		}
		if !numeric(pid) {
			return
		}
		for _, secret := range []string{"environ", "mem", "maps", "fd"} {
			for _, in := range []string{pid + "/" + secret, pid + "/task/" + pid + "/" + secret} {
				full := filepath.Join(clean, in)
				if secretReason(procfsMagic, full) == "" {
					t.Fatalf("%q in procfs is not a secret", full)
				}
			}
		}
	})
}

// FuzzDBusNames: a call that passes validation names one interface and
// one member, split back the same way godbus splits "interface.member" (at
// its last dot); and a grant on one interface's members passes no other
// interface's.
func FuzzDBusNames(f *testing.F) {
	f.Add("org.freedesktop.DBus", "org.freedesktop.DBus", "Properties.Get")
	f.Add("org.freedesktop.DBus", "org.freedesktop.DBus.Monitoring", "BecomeMonitor")
	f.Add("org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager", "ListUnits")
	f.Add(":1.42", "org.x", "M")
	f.Add("org.x", "org..x", "9M")
	h := New(slog.New(slog.DiscardHandler))
	defer h.Close()
	// Every call to the bus is granted, as far as grants go.
	c, err := h.NewCaller("x", Grants{DBus: []string{"unix:path=/nonexistent org.freedesktop.DBus org.freedesktop.DBus.*"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, dest, iface, member string) {
		if checkDBusCall(dest, iface, member) != nil {
			return
		}
		call := iface + "." + member
		i := strings.LastIndexByte(call, '.')
		if call[:i] != iface || call[i+1:] != member {
			t.Fatalf("%q.%q splits as %q.%q", iface, member, call[:i], call[i+1:])
		}
		p, err := compile(Grants{DBus: []string{"org.x org.x.Y.*"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.dbusGranted("system", "org.x", iface, member) != (iface == "org.x.Y") {
			t.Fatalf("grant org.x.Y.* on %q.%q: %v", iface, member, !(iface == "org.x.Y"))
		}
		// A call to the bus that does more than read is refused before
		// any connection is made, whatever the grant.
		if dest == busDriver && iface == busDriver && !busReadOnly[call] {
			req := sdk.DBusRequest{Bus: "unix:path=/nonexistent", Destination: dest, Path: "/", Interface: iface, Member: member}
			_, err := c.dbus(context.Background(), req, newBudget(MaxAnswer))
			if err == nil || !strings.Contains(err.Error(), "never granted") {
				t.Fatalf("%s on the bus: %v", call, err)
			}
		}
	})
}
