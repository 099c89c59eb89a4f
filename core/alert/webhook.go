package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// SignatureHeader carries a webhook body's HMAC-SHA256 under the
// receiver's secret: "sha256=<hex>" of the timestamp header's value, a
// dot, and the body, so a captured body cannot be replayed with a new
// time.
const (
	SignatureHeader = "X-Barbossa-Signature"
	TimestampHeader = "X-Barbossa-Timestamp"
)

// webhook posts a JSON document with every alert of the message.
type webhook struct {
	*httpPost
	common
	secret []byte
}

// WebhookBody is what a webhook receiver gets (docs/CONFIG.md).
type WebhookBody struct {
	Version     string         `json:"version"`
	Receiver    string         `json:"receiver"`
	Status      string         `json:"status"`
	Test        bool           `json:"test"`
	Title       string         `json:"title"`
	Host        string         `json:"host"`
	ExternalURL string         `json:"external_url"`
	Alerts      []WebhookAlert `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookBody.
type WebhookAlert struct {
	Key         string            `json:"key"`
	Rule        string            `json:"rule"`
	Status      string            `json:"status"`
	Severity    string            `json:"severity"`
	Summary     string            `json:"summary"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Value       *float64          `json:"value"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      *time.Time        `json:"ends_at"`
}

func (w *webhook) send(ctx context.Context, m *Message) error {
	body := WebhookBody{Version: "1", Receiver: m.Receiver, Status: m.Status(), Test: m.Test,
		Title: title(m, w.host), Host: w.host, ExternalURL: w.externalURL, Alerts: []WebhookAlert{}}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		body.Alerts = append(body.Alerts, WebhookAlert{Key: a.Key, Rule: a.Rule, Status: a.State, Severity: a.Severity,
			Summary: a.Summary(), Labels: a.Labels, Annotations: a.Annotations, Value: a.Value, StartsAt: a.StartsAt(), EndsAt: a.ResolvedAt})
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	headers := map[string]string{}
	if len(w.secret) > 0 {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		headers[TimestampHeader] = ts
		headers[SignatureHeader] = Sign(w.secret, ts, b)
	}
	return w.post(ctx, "application/json", b, headers)
}

// Sign is the signature header's value for body sent at timestamp ts: a
// receiver computes it with its copy of the secret and compares in
// constant time (hmac.Equal).
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
