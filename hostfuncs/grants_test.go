package hostfuncs

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompileRejectsBadGrants(t *testing.T) {
	for _, tc := range []struct {
		g    Grants
		want string
	}{
		{Grants{Exec: []string{""}}, `exec: "": empty program name`},
		{Grants{Exec: []string{"bin/tmux"}}, `exec: "bin/tmux": a path must be absolute`},
		{Grants{HTTP: []string{"unix://var/run/docker.sock"}}, "unix:///absolute/path"},
		{Grants{HTTP: []string{"ftp://x/"}}, "scheme must be http, https or unix"},
		{Grants{HTTP: []string{"http://user@host/"}}, "a URL prefix is scheme://host"},
		{Grants{HTTP: []string{"/relative"}}, "scheme must be"},
		{Grants{DBus: []string{"org.freedesktop.systemd1"}}, "want \"[BUS] DESTINATION INTERFACE.MEMBER\""},
		{Grants{DBus: []string{"org.x Member"}}, "want INTERFACE.MEMBER"},
		{Grants{Read: []string{"proc"}}, `read: "proc": a path prefix must be absolute`},
	} {
		_, err := compile(tc.g)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile(%+v) = %v, want %q", tc.g, err, tc.want)
		}
	}
	if _, err := compile(Grants{
		Exec: []string{"sh", "/bin/ls", "no-such-program-xyz"},
		HTTP: []string{"unix:///var/run/docker.sock", "http://127.0.0.1:9100/", "https://example.com/api"},
		DBus: []string{"org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits", "session org.x org.x.Y.*"},
		Read: []string{"/proc", "/sys/"},
	}); err != nil {
		t.Errorf("good grants: %v", err)
	}
}

func TestExecPath(t *testing.T) {
	p, err := compile(Grants{Exec: []string{"sh", "/bin/ls", "no-such-program-xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := filepath.Abs(mustLookPath(t, "sh"))
	for _, tc := range []struct {
		argv0, path string
		granted     bool
	}{
		{"sh", sh, true},
		{sh, sh, true}, // the resolved path of a granted name
		{"/bin/ls", "/bin/ls", true},
		{"ls", "", false}, // granted by path only
		{"bash", "", false},
		{"/tmp/sh", "", false},
		{"no-such-program-xyz", "", true}, // granted, not installed
	} {
		path, program, args := p.execPath([]string{tc.argv0, "any", "argument"})
		if granted := program && args; path != tc.path || granted != tc.granted {
			t.Errorf("execPath(%q) = %q, %v; want %q, %v", tc.argv0, path, granted, tc.path, tc.granted)
		}
	}
}

func TestURLGrants(t *testing.T) {
	p, err := compile(Grants{HTTP: []string{"http://127.0.0.1:9100/", "https://Example.com/api", "unix:///var/run/docker.sock"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"http://127.0.0.1:9100/metrics", true},
		{"http://127.0.0.1:9100", true},
		{"http://127.0.0.1:9101/metrics", false},
		{"http://127.0.0.1:91000/", false},
		{"https://127.0.0.1:9100/", false},
		{"http://127.0.0.1:9100@evil.com/", false},
		{"http://user@127.0.0.1:9100/", false},
		{"https://example.com/api", true},
		{"https://EXAMPLE.com/api/v1/x?q=1", true},
		{"https://example.com/apix", false},
		{"https://example.com/api/../admin", false},
		{"https://example.com/api/%2e%2e/admin", false},
		{"https://example.com/", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.urlGranted("GET", u); got != tc.want {
			t.Errorf("urlGranted(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
	for s, want := range map[string]bool{
		"/var/run/docker.sock": true, "unix:///var/run/docker.sock": true, "/var/run/../run/docker.sock": true, // lexically /var/run/docker.sock
		"/var/run/docker.sock2": false, "/run/docker.sock": false,
	} {
		if got := p.socketGranted(s, "POST", &url.URL{Path: "/containers/x/stop"}); got != want {
			t.Errorf("socketGranted(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestNarrowHTTPGrants: methods and path patterns narrow a grant, so a
// probe can read the Docker API without being able to stop a container.
func TestNarrowHTTPGrants(t *testing.T) {
	p, err := compile(Grants{HTTP: []string{
		"GET unix:///var/run/docker.sock /containers/json /containers/*/json /containers/*/stats",
		"GET,HEAD http://127.0.0.1:9100/ /metrics",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/containers/json", true},
		{"GET", "/containers/abc/json", true},
		{"GET", "/containers/abc/stats", true},
		{"POST", "/containers/abc/stop", false},
		{"GET", "/containers/abc/export", false},
		{"GET", "/containers/abc/../../images/json", false},
		{"DELETE", "/containers/abc/json", false},
		{"GET", "/v1.43/containers/json", false},
	} {
		u, _ := url.Parse("http://docker" + tc.path)
		u.Path = cleanURLPath(u.Path)
		if got := p.socketGranted("/var/run/docker.sock", tc.method, u); got != tc.want {
			t.Errorf("socket %s %s = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct {
		method, url string
		want        bool
	}{
		{"GET", "http://127.0.0.1:9100/metrics", true},
		{"HEAD", "http://127.0.0.1:9100/metrics", true},
		{"POST", "http://127.0.0.1:9100/metrics", false},
		{"GET", "http://127.0.0.1:9100/debug", false},
	} {
		u, _ := url.Parse(tc.url)
		if got := p.urlGranted(tc.method, u); got != tc.want {
			t.Errorf("url %s %s = %v, want %v", tc.method, tc.url, got, tc.want)
		}
	}
	for _, bad := range []string{"get unix:///x.sock", "GET", "GET unix:///x.sock containers", "GET unix:///x.sock /a[", "GET  ftp://x/"} {
		if _, err := compile(Grants{HTTP: []string{bad}}); err == nil {
			t.Errorf("grant %q accepted", bad)
		}
	}
}

func TestReadGrants(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	os.Mkdir(real, 0o755)
	os.Symlink(real, filepath.Join(dir, "alias"))
	p, err := compile(Grants{Read: []string{"/proc", filepath.Join(dir, "alias") + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/proc": true, "/proc/1/stat": true, "/process": false, "/": false,
		filepath.Join(dir, "alias", "x"): true, filepath.Join(real, "x"): true, // the grant, resolved
		filepath.Join(dir, "other"): false,
	} {
		if got := p.readGranted(path); got != want {
			t.Errorf("readGranted(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestDBusGrants(t *testing.T) {
	p, err := compile(Grants{DBus: []string{
		"org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits",
		"session org.x org.x.Props.*",
		"unix:path=/tmp/bus org.y org.y.I.M",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bus, dest, iface, member string
		want                     bool
	}{
		{"system", "org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager", "ListUnits", true},
		{"system", "org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager", "StopUnit", false},
		{"session", "org.freedesktop.systemd1", "org.freedesktop.systemd1.Manager", "ListUnits", false},
		{"system", "org.evil", "org.freedesktop.systemd1.Manager", "ListUnits", false},
		{"session", "org.x", "org.x.Props", "Anything", true},
		{"system", "org.x", "org.x.Props", "Anything", false},
		{"unix:path=/tmp/bus", "org.y", "org.y.I", "M", true},
		{"unix:path=/tmp/other", "org.y", "org.y.I", "M", false},
	} {
		if got := p.dbusGranted(tc.bus, tc.dest, tc.iface, tc.member); got != tc.want {
			t.Errorf("dbusGranted(%+v) = %v, want %v", tc, got, tc.want)
		}
	}
}

func TestBareProgramGrantWarned(t *testing.T) {
	g := Grants{Exec: []string{"git", "/usr/bin/uptime", "tmux list-sessions -F *", "git status --porcelain", "find . **"}}
	w := g.Warnings()
	if len(w) != 2 || !strings.HasPrefix(w[0], `"git" lets the probe run git with any arguments`) || !strings.HasPrefix(w[1], `"/usr/bin/uptime" lets the probe run /usr/bin/uptime with any arguments`) {
		t.Errorf("warnings %q, want one for each program granted alone", w)
	}
	if w := (Grants{Exec: []string{"tmux -S * list-panes -a -F *"}, Read: []string{"/proc"}}).Warnings(); w != nil {
		t.Errorf("narrow grants warned: %q", w)
	}
}
