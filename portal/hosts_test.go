package portal

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestHostPolicy(t *testing.T) {
	p := newHostPolicy([]string{"Monitor.Example.LAN.", "bad name"})
	for host, want := range map[string]bool{
		"localhost": true, "localhost:8080": true, "LOCALHOST.:80": true,
		"127.0.0.1": true, "127.0.0.1:8080": true, "[::1]:8080": true, "[::1]": true,
		"192.0.2.7:8080": true, "[2001:db8::1]:443": true, // an address cannot be rebound
		"monitor.example.lan": true, "MONITOR.example.lan:8080": true, "monitor.example.lan.": true,
		"": false, ":8080": false, "evil.example": false, "evil.example:8080": false,
		"localhost.evil.example": false, "x.localhost": false, "monitor.example.lan.evil.example": false,
		"::1": false, "[::1": false, "[::1]x": false, "[127.0.0.1]:80": false, "localhost:80a": false,
		"localhost:8080:8080": false, "bad name": false, "0x7f.1": false, "127.1": false,
	} {
		if got := p.allows(host); got != want {
			t.Errorf("allows(%q) = %v, want %v", host, got, want)
		}
	}
}

// FuzzHostPolicy checks the Host matcher against its contract: whatever
// it allows is localhost, an IP address or a configured name, with at most
// a numeric port; and a port never changes the answer.
func FuzzHostPolicy(f *testing.F) {
	for _, s := range []string{"localhost", "localhost:8080", "[::1]:80", "127.0.0.1", "evil.example:8080",
		"monitor.lan", "MONITOR.LAN.", "[fe80::1%25eth0]:80", "[::ffff:127.0.0.1]", "::1", "a:b:c", "[", "]", ":", "",
		"localhost\x00", "localhost:", "xn--80ak6aa92e.com", "1.2.3.4:99999999999999999999"} {
		f.Add(s)
	}
	p := newHostPolicy([]string{"monitor.lan"})
	f.Fuzz(func(t *testing.T, host string) {
		if !p.allows(host) {
			return
		}
		name, ok := splitHost(host)
		if !ok {
			t.Fatalf("allows(%q) but splitHost refuses it", host)
		}
		if _, err := ipLiteral(name); err != nil {
			n := strings.ToLower(strings.TrimSuffix(name, "."))
			if n != "localhost" && n != "monitor.lan" {
				t.Fatalf("allows(%q): %q is neither an address nor a listed name", host, name)
			}
		}
		if !strings.HasPrefix(host, "[") && !strings.Contains(host, ":") && !p.allows(host+":8080") {
			t.Fatalf("allows(%q) but not with a port", host)
		}
	})
}

func ipLiteral(s string) (net.IP, error) {
	ip := net.ParseIP(strings.SplitN(s, "%", 2)[0])
	if ip == nil {
		return nil, &net.AddrError{Err: "not an address", Addr: s}
	}
	return ip, nil
}

// TestDNSRebindingRefused plays a rebinding attack against a running
// portal with no token: the browser, fooled into connecting to 127.0.0.1,
// still sends the attacker's name as Host, and the portal refuses it.
func TestDNSRebindingRefused(t *testing.T) {
	s, _ := start(t, Config{Hosts: []string{"monitor.example.lan"}}, newFake())
	do := func(host, path string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+s.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, port, _ := net.SplitHostPort(s.Addr())
	for _, path := range []string{"/api/v1/status", "/metrics", "/", "/api/v1/stream", "/nope"} {
		code, body := do("rebind.attacker.example:"+port, path)
		if code != http.StatusForbidden || !strings.Contains(body, `host \"rebind.attacker.example:`+port+`\" is not allowed`) {
			t.Errorf("GET %s with the attacker's Host: %d %s", path, code, body)
		}
	}
	if code, _ := do("rebind.attacker.example", "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with any Host: %d, want 200 (it is open, as with a token)", code)
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "monitor.example.lan:" + port, "Monitor.Example.Lan."} {
		if code, body := do(host, "/api/v1/status"); code != http.StatusOK {
			t.Errorf("Host %q: %d %s", host, code, body)
		}
	}

	// With a token the rebound page has nothing to send: any Host is
	// answered, and the token decides.
	s2, _ := start(t, Config{Token: "s3cret"}, newFake())
	s = s2
	if code, _ := do("rebind.attacker.example", "/api/v1/status"); code != http.StatusUnauthorized {
		t.Errorf("token set, no token sent: %d, want 401", code)
	}
	if code, _ := do("proxy.example", "/api/v1/status", "Authorization", "Bearer s3cret"); code != http.StatusOK {
		t.Errorf("token set and sent, another Host: %d, want 200", code)
	}
}

// TestListenBeyondLoopbackNeedsToken: with no token the portal refuses to
// bind every interface (nothing is bound: the check comes first), unless
// insecure_no_token says so, and then it warns.
func TestListenBeyondLoopbackNeedsToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		err := New(Config{Listen: listen}, newFake(), nil).Listen()
		if err == nil || !strings.Contains(err.Error(), "reaches beyond loopback and no token is set") {
			t.Errorf("Listen(%q) with no token: %v", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		s := New(Config{Listen: listen}, newFake(), nil)
		if err := s.Listen(); err != nil {
			if listen == "[::1]:0" && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 loopback on this machine
			}
			t.Errorf("Listen(%q): %v", listen, err)
			continue
		}
		s.listener.Close()
	}
	// Allowed by the config: decided, and warned about, before binding.
	var logs bytes.Buffer
	s := New(Config{Listen: "0.0.0.0:8080", InsecureNoToken: true}, newFake(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := s.checkExposure(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); err != nil {
		t.Errorf("insecure_no_token: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "NO TOKEN on a non-loopback address") {
		t.Errorf("no loud warning: %q", logs.String())
	}
	s = New(Config{Listen: "0.0.0.0:8080", Token: "t"}, newFake(), nil)
	if err := s.checkExposure(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}); err != nil {
		t.Errorf("with a token: %v", err)
	}
}

// BenchmarkHostPolicy is what the Host check adds to every request with no
// token set.
func BenchmarkHostPolicy(b *testing.B) {
	p := newHostPolicy([]string{"monitor.example.lan"})
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "monitor.example.lan:8080", "rebind.attacker.example:8080"} {
		b.Run(host, func(b *testing.B) {
			for b.Loop() {
				p.allows(host)
			}
		})
	}
}
