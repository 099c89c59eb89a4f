package alert_test

// Real receivers, on loopback, on the real clock: an Alertmanager
// (Debian's), an SMTP server with STARTTLS and AUTH (emersion/go-smtp), a
// webhook that checks the signature, ntfy- and Slack-shaped endpoints, and
// a webhook that is down and comes back.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
)

// value is a probe reporting one gauge the test sets.
type value struct {
	mu sync.Mutex
	v  float64
}

func (p *value) set(v float64) {
	p.mu.Lock()
	p.v = v
	p.mu.Unlock()
}

func (p *value) probes() []alert.Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []alert.Probe{{Name: "system", State: "ok", Report: &sdk.Report{Metrics: []sdk.Metric{
		{Name: "system.disk.used_percent", Labels: map[string]string{"mount": "/"}, Value: p.v},
	}}}}
}

// run starts an engine on cfgText (written to dir) reading p.
func run(t *testing.T, dir, cfgText string, p *value) *alert.Engine {
	t.Helper()
	file := filepath.Join(dir, "barbossa.toml")
	if err := os.WriteFile(file, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	e, err := alert.New(cfg, alert.Options{Probes: p.probes, Hostname: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return e
}

const diskRule = `
[alerting]
interval = "200ms"
external_url = "http://web-1.example:8080"
labels = {env = "test"}
[[alert]]
name = "disk-full"
series = 'system.disk.used_percent{mount="/"}'
above = 90
clear = 85
severity = "critical"
annotations = {description = "the root file system is nearly full"}
`

// eventually polls cond on the real clock: the receivers are real
// servers, answering on their own time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // real servers: no fake clock reaches them
	}
}

func TestAlertmanagerReceivesAndResolves(t *testing.T) {
	am := testenv.StartAlertmanager(t)
	p := &value{v: 95}
	run(t, t.TempDir(), diskRule+`
[[notify]]
name = "am"
type = "alertmanager"
url = "`+am.URL()+`"
`, p)
	ctx := t.Context()
	var got testenv.AMAlert
	eventually(t, "the alert in Alertmanager", func() bool {
		list, err := am.Alerts(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, am.Log())
		}
		for _, a := range list {
			if a.Labels["alertname"] == "disk-full" {
				got = a
				return true
			}
		}
		return false
	})
	want := map[string]string{"alertname": "disk-full", "severity": "critical", "host": "web-1", "env": "test",
		"mount": "/", "probe": "system", "metric": "system.disk.used_percent"}
	for k, v := range want {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if got.Status.State != "active" || got.GeneratorURL != "http://web-1.example:8080/api/v1/alerts" ||
		got.Annotations["description"] != "the root file system is nearly full" || !strings.Contains(got.Annotations["summary"], "is 95, above 90") {
		t.Errorf("alert in Alertmanager: %+v", got)
	}
	if time.Since(got.StartsAt) > time.Minute || got.EndsAt.Before(time.Now().Add(2*time.Minute)) {
		t.Errorf("startsAt %s, endsAt %s: want now and about 3m ahead", got.StartsAt, got.EndsAt)
	}

	p.set(80)
	eventually(t, "the alert resolved in Alertmanager", func() bool {
		list, err := am.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.Labels["alertname"] == "disk-full" {
				return false
			}
		}
		return true
	})
}

func TestWebhookSignatureAndHeaders(t *testing.T) {
	const secret = "hook secret"
	type delivery struct {
		body   alert.WebhookBody
		header http.Header
		valid  bool
	}
	got := make(chan delivery, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		// What a receiver does: recompute the HMAC over timestamp.body
		// with its copy of the secret; compare in constant time.
		want := alert.Sign([]byte(secret), r.Header.Get(alert.TimestampHeader), raw)
		d := delivery{header: r.Header, valid: hmac.Equal([]byte(want), []byte(r.Header.Get(alert.SignatureHeader)))}
		if err := json.Unmarshal(raw, &d.body); err != nil {
			t.Errorf("webhook body: %v: %s", err, raw)
		}
		got <- d
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &value{v: 95}
	run(t, dir, diskRule+`
[[notify]]
name = "hook"
type = "webhook"
url = "`+srv.URL+`/hook"
secret_file = "hook.secret"
group_wait = "0s"
headers = {X-Team = "ops"}
`, p)
	var d delivery
	select {
	case d = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook call")
	}
	if !d.valid {
		t.Errorf("signature %q does not verify", d.header.Get(alert.SignatureHeader))
	}
	if d.header.Get("X-Team") != "ops" || d.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", d.header)
	}
	if d.body.Status != "firing" || d.body.Receiver != "hook" || len(d.body.Alerts) != 1 || d.body.Alerts[0].Rule != "disk-full" ||
		*d.body.Alerts[0].Value != 95 || d.body.Title != "[FIRING:1] disk-full on web-1" {
		t.Errorf("body %+v", d.body)
	}
	p.set(50)
	select {
	case d = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no resolved call")
	}
	if d.body.Status != "resolved" || d.body.Alerts[0].EndsAt == nil || !d.valid {
		t.Errorf("resolved body %+v (signature valid: %t)", d.body, d.valid)
	}
	// A tampered body does not verify.
	if alert.Sign([]byte(secret), d.header.Get(alert.TimestampHeader), []byte(`{"status":"resolved"}`)) == d.header.Get(alert.SignatureHeader) {
		t.Error("a different body has the same signature")
	}
}

// smtpSink is an SMTP server that takes mail only over STARTTLS and after
// AUTH PLAIN with one user's password.
type smtpSink struct {
	mu    sync.Mutex
	mails []string
	auths []string
}

func (s *smtpSink) NewSession(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: s}, nil }

type smtpSession struct {
	sink   *smtpSink
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.sink.mu.Lock()
		s.sink.auths = append(s.sink.auths, username)
		s.sink.mu.Unlock()
		if username != "alerts" || password != "smtp pass" {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	return nil
}

func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.mails = append(s.sink.mails, string(b))
	s.sink.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// testCert makes a CA-signed certificate for 127.0.0.1 and writes the CA
// to caFile, as an operator's private CA would be given in ca_file.
func testCert(t *testing.T, caFile string) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestEmailOverSTARTTLSWithAuth(t *testing.T) {
	dir := t.TempDir()
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "mail.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{testCert(t, filepath.Join(dir, "ca.pem"))}, MinVersion: tls.VersionTLS12}
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	if err := os.WriteFile(filepath.Join(dir, "smtp.pass"), []byte("smtp pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &value{v: 95}
	run(t, dir, diskRule+`
[[notify]]
name = "ops"
type = "email"
smtp = "`+l.Addr().String()+`"
ca_file = "ca.pem"
from = "Barbossa <barbossa@example.com>"
to = ["ops@example.com", "oncall@example.com"]
username = "alerts"
password_file = "smtp.pass"
group_wait = "0s"
`, p)
	var raw string
	eventually(t, "a mail", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if len(sink.mails) > 0 {
			raw = sink.mails[0]
			return true
		}
		return false
	})
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, raw)
	}
	h := msg.Header
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Address != "barbossa@example.com" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "oncall@example.com" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	if h.Get("Subject") != "[FIRING:1] disk-full on web-1" || h.Get("X-Barbossa-Status") != "firing" {
		t.Errorf("Subject %q, status %q", h.Get("Subject"), h.Get("X-Barbossa-Status"))
	}
	if _, err := h.Date(); err != nil || h.Get("Message-Id") == "" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("Date %q (%v), Message-Id %q, Content-Type %q", h.Get("Date"), err, h.Get("Message-Id"), h.Get("Content-Type"))
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"FIRING critical disk-full:", "is 95, above 90", "the root file system is nearly full", `mount="/"`, "http://web-1.example:8080/api/v1/alerts"} {
		if !strings.Contains(decodeQP(string(body)), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	sink.mu.Lock()
	auths := strings.Join(sink.auths, ",")
	sink.mu.Unlock()
	if auths != "alerts" {
		t.Errorf("AUTH as %q, want alerts", auths)
	}
}

// decodeQP undoes quoted-printable soft line breaks and =XX escapes.
func decodeQP(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	s = strings.ReplaceAll(s, "=\n", "")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestEmailRefusesWithoutTLS(t *testing.T) {
	// A server that offers no STARTTLS: the mail must not go out in clear.
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "mail.test"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	cfg, err := config.Parse("x.toml", []byte(diskRule+`
[[notify]]
name = "ops"
type = "email"
smtp = "`+l.Addr().String()+`"
from = "barbossa@example.com"
to = ["ops@example.com"]
username = "alerts"
password = "smtp pass"
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := alert.Test(t.Context(), cfg, "ops", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(strings.ToLower(res[0].Err.Error()), "starttls") {
		t.Fatalf("results %+v", res)
	}
	if strings.Contains(res[0].Err.Error(), "smtp pass") {
		t.Error("the error shows the password")
	}
	if len(sink.mails) != 0 || len(sink.auths) != 0 {
		t.Errorf("sent in clear: %d mails, auths %v", len(sink.mails), sink.auths)
	}
}

func TestNtfyAndSlackFormats(t *testing.T) {
	type call struct {
		path   string
		header http.Header
		body   string
	}
	calls := make(chan call, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- call{r.URL.Path, r.Header, string(b)}
	}))
	defer srv.Close()
	cfg, err := config.Parse("x.toml", []byte(diskRule+`
[[notify]]
name = "phone"
type = "ntfy"
url = "`+srv.URL+`/disk-alerts"
token = "tk_123"
[[notify]]
name = "chat"
type = "slack"
url = "`+srv.URL+`/slack"
channel = "#ops"
username = "barbossa"
[[notify]]
name = "discord"
type = "slack"
format = "discord"
url = "`+srv.URL+`/discord"
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := alert.Test(t.Context(), cfg, "disk-full", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Receiver, r.Err)
		}
	}
	got := map[string]call{}
	for range 3 {
		c := <-calls
		got[c.path] = c
	}
	n := got["/disk-alerts"]
	if n.header.Get("Title") != "[TEST] [FIRING:1] disk-full on web-1" || n.header.Get("Priority") != "high" ||
		n.header.Get("Authorization") != "Bearer tk_123" || !strings.Contains(n.header.Get("Tags"), "rotating_light") ||
		!strings.Contains(n.body, "This is a test notification") {
		t.Errorf("ntfy: %v\n%s", n.header, n.body)
	}
	var s struct{ Text, Channel, Username string }
	if err := json.Unmarshal([]byte(got["/slack"].body), &s); err != nil || s.Channel != "#ops" || s.Username != "barbossa" ||
		!strings.HasPrefix(s.Text, "*[TEST] [FIRING:1] disk-full on web-1*\n") {
		t.Errorf("slack: %v %+v", err, s)
	}
	var d struct{ Content string }
	if err := json.Unmarshal([]byte(got["/discord"].body), &d); err != nil || !strings.HasPrefix(d.Content, "**[TEST] [FIRING:1] disk-full on web-1**") {
		t.Errorf("discord: %v %+v", err, d)
	}
}

func TestWebhookDownThenUp(t *testing.T) {
	// The receiver's port is known but nothing listens yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &value{v: 95}
	e := run(t, t.TempDir(), diskRule+`
[[notify]]
name = "hook"
type = "webhook"
url = "http://`+addr+`/hook"
group_wait = "0s"
timeout = "1s"
`, p)
	eventually(t, "two failed attempts", func() bool {
		return e.Status().Receivers[0].Failed >= 2
	})
	if st := e.Status().Receivers[0]; st.Queued != 1 || st.Sent != 0 || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("while down: %+v", st)
	}
	var mu sync.Mutex
	var bodies []alert.WebhookBody
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b alert.WebhookBody
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	eventually(t, "the queued notification delivered", func() bool { return e.Status().Receivers[0].Sent == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || bodies[0].Status != "firing" || bodies[0].Alerts[0].Rule != "disk-full" {
		t.Fatalf("delivered %+v", bodies)
	}
	if st := e.Status().Receivers[0]; st.Queued != 0 || st.LastSuccess == nil {
		t.Fatalf("after delivery: %+v", st)
	}
}
