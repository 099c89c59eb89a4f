package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// start runs ListenAndServe on a free loopback port and returns the base URL
// and a stop function that cancels and waits for the server's return value.
func start(t *testing.T, cfg Config, src Source) (*Server, func() error) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s := New(cfg, src, nil)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() == "" || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr %q after Listen", s.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("ListenAndServe did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return s, stop
}

func TestListenAndServe(t *testing.T) {
	s, stop := start(t, Config{Token: "tok"}, newFake())
	base := "http://" + s.Addr()

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz %d %q", resp.StatusCode, body)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The transport asked for gzip and undid it transparently.
	if resp.StatusCode != 200 || !resp.Uncompressed {
		t.Fatalf("status %d, uncompressed %v", resp.StatusCode, resp.Uncompressed)
	}

	if err := stop(); err != nil {
		t.Fatalf("ListenAndServe returned %v after a clean shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("port still accepts connections after shutdown")
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.hold = make(chan struct{}) // a request stays in flight until closed
		_, client, stop := startPiped(t, Config{}, f)
		got := make(chan int, 1)
		go func() {
			resp, err := client.Get("http://localhost/api/v1/status")
			if err != nil {
				got <- -1
				return
			}
			resp.Body.Close()
			got <- resp.StatusCode
		}()
		synctest.Wait()
		if n := f.hostCalls.Load(); n != 1 {
			t.Fatalf("%d requests reached the source; want the one, held", n)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		// Shutdown waits for the request (up to the drain timeout; it looks
		// every 500 ms at most, so release it well before).
		time.Sleep(drainTimeout / 2)
		select {
		case err := <-stopped:
			t.Fatalf("shutdown returned (%v) with a request in flight", err)
		default:
		}
		close(f.hold)
		if code := <-got; code != 200 {
			t.Errorf("in-flight request got %d, want 200: shutdown must drain", code)
		}
		if err := <-stopped; err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func TestShutdownDrainTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.hold = make(chan struct{})
		_, client, stop := startPiped(t, Config{}, f)
		go func() {
			if resp, err := client.Get("http://localhost/api/v1/status"); err == nil {
				resp.Body.Close()
			}
		}()
		synctest.Wait()
		began := time.Now()
		err := stop()
		// A request still held at the drain timeout is cut, and said so.
		if took := time.Since(began); took != drainTimeout || err == nil || !strings.Contains(err.Error(), "shutdown") {
			t.Errorf("stop after %s: %v; want a shutdown error after exactly %s", took, err, drainTimeout)
		}
		close(f.hold)
	})
}

func TestListenBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := New(Config{Listen: l.Addr().String()}, newFake(), nil)
	if err := s.ListenAndServe(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("err %v, want a listen error", err)
	}
	if s.Addr() != "" {
		t.Errorf("Addr %q without a listener", s.Addr())
	}
}

func TestTLSNeedsBoth(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0", TLSCert: "cert.pem"}, newFake(), nil)
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("err %v", err)
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	s, stop := start(t, Config{TLSCert: certFile, TLSKey: keyFile}, newFake())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("status %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "barbossa-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
