package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
)

// secrets are a receiver's credentials, read from the config or its files.
// They never reach a log line: errors name the receiver, not the secret.
type secrets struct{ secret, token, password string }

// newSender makes the sender of one receiver type.
func newSender(cfg *config.Config, n config.Notify, s secrets, host string) (sender, error) {
	var roots *x509.CertPool
	if n.CAFile != "" {
		pem, err := os.ReadFile(cfg.Path(n.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", n.CAFile)
		}
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	h := &httpPost{
		url: n.URL, headers: n.Headers, token: s.token,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				TLSClientConfig:     tlsConfig,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     90 * time.Second,
			},
			// A receiver's redirect is followed at most once, never to
			// another scheme's plain text.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > 1 {
					return http.ErrUseLastResponse
				}
				return nil
			},
		},
	}
	common := common{host: host, externalURL: cfg.Alerting.ExternalURL}
	switch n.Type {
	case config.NotifyWebhook:
		return &webhook{httpPost: h, common: common, secret: []byte(s.secret)}, nil
	case config.NotifyAlertmanager:
		h.url = strings.TrimSuffix(n.URL, "/") + "/api/v2/alerts"
		return &alertmanager{httpPost: h, common: common, repeat: n.RepeatInterval.Duration}, nil
	case config.NotifyNtfy:
		return &ntfy{httpPost: h, common: common, priority: n.Priority}, nil
	case config.NotifySlack:
		return &slack{httpPost: h, common: common, format: n.Format, channel: n.Channel, username: n.Username}, nil
	case config.NotifyEmail:
		return newEmail(n, s, tlsConfig, common)
	}
	return nil, fmt.Errorf("type %q is not a receiver type", n.Type)
}

// common is what every sender writes into its messages.
type common struct {
	host        string
	externalURL string
}

// httpPost posts one body to a receiver's URL.
type httpPost struct {
	url     string
	headers map[string]string
	token   string
	client  *http.Client
}

// maxAnswer is how much of a receiver's error answer is kept for the log.
const maxAnswer = 512

// post sends body; any answer but 2xx is an error quoting the start of
// the answer.
func (h *httpPost) post(ctx context.Context, ctype string, body []byte, extra map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "barbossa-alert")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", redact(h.url), resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

// redact drops the path and query of a URL for messages: Slack's and
// Discord's webhook URLs carry their secret in the path.
func redact(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "receiver"
	}
	host, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	return scheme + "://" + host
}
