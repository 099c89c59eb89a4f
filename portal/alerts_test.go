package portal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
)

// fakeAlerts keeps silences the way the engine does, checks included: the
// portal's part is the body, the token and the status codes.
type fakeAlerts struct {
	mu       sync.Mutex
	silences []alerting.Silence
}

func (f *fakeAlerts) Status() alerting.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return alerting.Status{Alerts: []alerting.Alert{}, Rules: []alerting.RuleStatus{}, Silences: f.silences, Receivers: []alerting.ReceiverStatus{}}
}

func (f *fakeAlerts) AddSilence(s alerting.Silence) (alerting.Silence, error) {
	if len(s.Matchers) == 0 {
		return s, fmt.Errorf("matchers: at least one")
	}
	if !s.EndsAt.After(time.Now()) {
		return s, fmt.Errorf("ends_at: must be in the future")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.ID = fmt.Sprint(len(f.silences) + 1)
	f.silences = append(f.silences, s)
	return s, nil
}

func (f *fakeAlerts) DeleteSilence(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.silences {
		if s.ID == id {
			f.silences = append(f.silences[:i], f.silences[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w %q", alerting.ErrNoSilence, id)
}

func newSilenceRequest(method, path, body, ctype string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer s3cret")
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

func TestSilenceRequests(t *testing.T) {
	f := &fakeAlerts{}
	h := New(Config{Token: "s3cret", Alerts: f}, &fakeSource{}, nil).Handler()
	for _, tt := range []struct {
		method, path, body, ctype string
		status                    int
		want                      string
	}{
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h"}`, "application/json", 201, `"id":"1"`},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h"}`, "application/json; charset=utf-8", 201, `"id":"2"`},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h"}`, "text/plain", 415, "application/json"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h"}`, "", 415, "application/json"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}}`, "application/json", 400, "duration"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h", "ends_at": "2030-01-01T00:00:00Z"}`, "application/json", 400, "not both"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2x"}`, "application/json", 400, `duration: \"2x\"`},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "400d"}`, "application/json", 400, "at most 366d"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "ends_at": "2001-01-01T00:00:00Z"}`, "application/json", 400, "future"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h"} {}`, "application/json", 400, "second JSON value"},
		{"POST", "/api/v1/silences", `{"matchers": {"alertname": "x"}, "duration": "2h", "who": 1}`, "application/json", 400, "unknown field"},
		{"POST", "/api/v1/silences", `{"comment": "` + strings.Repeat("x", 20<<10) + `"}`, "application/json", 413, "over"},
		{"GET", "/api/v1/silences", "", "", 405, "use POST"},
		{"DELETE", "/api/v1/silences/1", "", "", 200, `"deleted":true`},
		{"DELETE", "/api/v1/silences/1", "", "", 404, "no such silence"},
		{"GET", "/api/v1/silences/2", "", "", 405, "use DELETE"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newSilenceRequest(tt.method, tt.path, tt.body, tt.ctype))
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s %s %.60s: %d %s, want %d containing %q", tt.method, tt.path, tt.body, w.Code, w.Body, tt.status, tt.want)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, newSilenceRequest("GET", "/api/v1/alerts", "", ""))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"silences":[{"id":"2"`) {
		t.Errorf("GET /api/v1/alerts: %d %s", w.Code, w.Body)
	}
}

// FuzzSilenceBody posts hostile bodies: the portal answers 201 only for
// a silence the engine accepted, and never a 5xx.
func FuzzSilenceBody(f *testing.F) {
	for _, s := range []string{`{"matchers": {"alertname": "x"}, "duration": "2h"}`, `{"matchers": {"a": "*"}, "ends_at": "2099-01-01T00:00:00Z"}`,
		`{}`, `[]`, `null`, `{"matchers": null, "duration": ""}`, `{"starts_at": "x"}`, `{"duration": "-1h", "matchers": {"a":"b"}}`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fa := &fakeAlerts{}
		h := New(Config{Token: "s3cret", Alerts: fa}, &fakeSource{}, nil).Handler()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newSilenceRequest("POST", "/api/v1/silences", body, "application/json"))
		switch {
		case w.Code >= 500:
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		case w.Code == http.StatusCreated && len(fa.silences) != 1:
			t.Fatalf("%q: 201 but nothing kept", body)
		case w.Code != http.StatusCreated && len(fa.silences) != 0:
			t.Fatalf("%q: %d but a silence was kept", body, w.Code)
		}
	})
}
