package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// checkExposure refuses a portal that would serve everything to the
// network without a token, as far as the file tells: listen on every
// interface ("" or 0.0.0.0 or ::) or on a non-loopback address, with
// neither token nor token_file, and without insecure_no_token. A host name
// other than localhost is only known when bound; the portal checks the
// address it gets again.
func (c *Config) checkExposure() []error {
	var errs []error
	p := &c.Portal
	if p.Token == "" && p.TokenFile == "" && !p.InsecureNoToken && beyondLoopback(p.Listen) {
		errs = append(errs, c.Errorf("portal.listen", "%q is not a loopback address and no token is set: anyone who can reach it would read everything the agent collects; "+
			"set token or token_file, listen on 127.0.0.1, or set insecure_no_token = true to accept that", p.Listen))
	}
	if p.PProf && p.Token == "" && p.TokenFile == "" {
		errs = append(errs, c.Errorf("portal.pprof", "the profiler needs a token: it shows the agent's memory and can slow it down; set token or token_file, or leave pprof off"))
	}
	for _, h := range p.Hosts {
		if err := checkHostName(h); err != nil {
			errs = append(errs, c.Errorf("portal.hosts", "%q: %v", h, err))
		}
	}
	return errs
}

// beyondLoopback says whether a listen address certainly reaches beyond
// loopback: its host is empty, an unspecified address or any address that
// is not loopback. A name is false here (it is checked once bound).
func beyondLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false // the portal refuses it when binding, naming the address
	}
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return !ip.IsLoopback()
}

// checkHostName accepts a DNS name as a Host header would carry it, without
// a port: letters, digits, '-' and '.'.
func checkHostName(h string) error {
	if h == "" || h == "*" || strings.ContainsAny(h, "*:/[]@ ") {
		return fmt.Errorf("want a host name such as monitor.example.lan, without port, scheme or wildcard (to accept any Host, set a token)")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("empty or over-long label")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is not allowed in a host name", r)
			}
		}
	}
	return nil
}

// maxTokenFile bounds a token file: a token is a line, not a document.
const maxTokenFile = 64 << 10

// readToken reads a token file: trailing whitespace trimmed, and an error
// (made by errorf, located at portal.token_file) when it is a folder,
// unreadable, too big or empty.
func readToken(path, key string, errorf func(key, format string, args ...any) *Error) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", errorf(key, "%v", err)
	case fi.IsDir():
		return "", errorf(key, "%s is a folder, not a file holding the token", path)
	case !fi.Mode().IsRegular():
		return "", errorf(key, "%s is not a regular file", path)
	case fi.Size() > maxTokenFile:
		return "", errorf(key, "%s is %d bytes, more than a token (at most %d)", path, fi.Size(), maxTokenFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", errorf(key, "%v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errorf(key, "%s is empty: an empty token would turn authentication off; write the token into it, or leave token_file out", path)
	}
	return tok, nil
}
