package portal

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Without a token the portal trusts the network it listens on, and a
// browser is a way into that network: a web page whose name its author
// re-points at 127.0.0.1 after loading (DNS rebinding) talks to the portal
// as its own origin and reads the answers. The browser still sends the
// page's name in Host, so without a token the portal answers only a Host
// that no page elsewhere can claim: localhost, an IP address (a page can
// only rebind a name), or a name listed in [portal] hosts. With a token a
// rebound page has nothing to send, and any Host is answered.

// hostPolicy is the Host allow-list. Names are lower case, without a
// trailing dot.
type hostPolicy struct {
	names map[string]bool
}

func newHostPolicy(extra []string) hostPolicy {
	p := hostPolicy{names: map[string]bool{"localhost": true}}
	for _, h := range extra {
		if name, ok := normalHost(h); ok {
			p.names[name] = true
		}
	}
	return p
}

// allows says whether a request's Host header (name or address, with an
// optional port) is on the list.
func (p hostPolicy) allows(hostport string) bool {
	host, ok := splitHost(hostport)
	if !ok {
		return false
	}
	if ipLike(host) {
		if _, err := netip.ParseAddr(host); err == nil {
			return true
		}
	}
	name, ok := normalHost(host)
	return ok && p.names[name]
}

// ipLike says whether host may be an address (IPv4 digits and dots, or
// IPv6 with a colon), so that names skip the parser's costly error.
func ipLike(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// splitHost takes the port off a Host header: "name:8080" → "name",
// "[::1]:8080" → "::1". It refuses what no browser sends: an empty host,
// a bare IPv6 address, a port that is not digits.
func splitHost(hostport string) (string, bool) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", false
		}
		host, port = hostport[1:end], hostport[end+1:]
		if port != "" && port[0] != ':' {
			return "", false
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", false
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i:]
		if strings.ContainsRune(host, ':') {
			return "", false
		}
	}
	for _, c := range strings.TrimPrefix(port, ":") {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return host, host != ""
}

// normalHost lower-cases a name and drops one trailing dot ("LocalHost."
// is localhost), refusing anything that is not a plain DNS name.
func normalHost(h string) (string, bool) {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	return h, true
}

// requireKnownHost refuses, with no token set, a request whose Host is not
// on the allow-list. /healthz stays open, as it does with a token.
func requireKnownHost(cfg Config, next http.Handler) http.Handler {
	if cfg.Token != "" {
		return next
	}
	hosts := newHostPolicy(cfg.Hosts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || hosts.allows(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, r, http.StatusForbidden, fmt.Errorf("host %q is not allowed: with no token set the portal answers only localhost, IP addresses and the names in [portal] hosts (a guard against DNS rebinding); add the name to hosts, or set a token", r.Host), "")
	})
}

// checkExposure refuses to serve a non-loopback address (every interface
// included) without a token, before anything is bound, unless the config
// says so (insecure_no_token); then it warns.
func (s *Server) checkExposure(addr *net.TCPAddr) error {
	if s.cfg.Token != "" || addr.IP.IsLoopback() {
		return nil
	}
	if !s.cfg.InsecureNoToken {
		return fmt.Errorf("portal: listen %q reaches beyond loopback and no token is set: anyone who can reach it would read everything the agent collects; set [portal] token or token_file, listen on 127.0.0.1, or set insecure_no_token = true to accept that", s.cfg.Listen)
	}
	s.log.Warn("portal: NO TOKEN on a non-loopback address: anyone who can reach it reads everything this agent collects (insecure_no_token = true)", "listen", s.cfg.Listen)
	return nil
}
