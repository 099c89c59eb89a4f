package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertsJSON is the part of GET /api/v1/alerts the tests read.
type alertsJSON struct {
	Summary struct {
		Firing   int `json:"firing"`
		Silenced int `json:"silenced"`
		NoData   int `json:"no_data"`
	} `json:"summary"`
	Alerts []struct {
		Rule       string            `json:"rule"`
		State      string            `json:"state"`
		Labels     map[string]string `json:"labels"`
		SilencedBy []string          `json:"silenced_by"`
	} `json:"alerts"`
	Rules []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"rules"`
	Silences []struct {
		ID string `json:"id"`
	} `json:"silences"`
}

func (a alertsJSON) rule(name string) string {
	for _, r := range a.Rules {
		if r.Name == name {
			return r.State
		}
	}
	return ""
}

// TestAgentAlertsEndToEnd runs an agent whose flaky probe breaks a rule and
// whose other rule watches a series nobody reports: the first fires and
// reaches a webhook, the second is "no data" in /api/v1/alerts (which the
// page draws),
// the status and /metrics; silences go through the portal with the token.
// flakyAlerting is the config of an agent whose "flaky" probe reports
// every 200 ms, and whose rule answer-high (flaky's answer over 40,
// critical) goes at once to the webhook at hook. portal is added to
// [portal]; extra ends the file, so its keys extend the [[notify]] entry
// until it starts a table of its own.
func flakyAlerting(hook, portal, extra string) string {
	return `
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
` + portal + `[store]
flush_interval = "100ms"
[[probe]]
name = "flaky"
interval = "200ms"
timeout = "100ms"
[alerting]
interval = "200ms"
[[alert]]
name = "answer-high"
series = 'flaky.value{kind="answer",probe="flaky"}'
above = 40
severity = "critical"
[[notify]]
name = "hook"
type = "webhook"
url = "` + hook + `"
group_wait = "0s"
` + extra
}

func TestAgentAlertsEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	base, _, _, _ := startAgentWith(t, t.TempDir(), flakyAlerting(hook.URL, "token = \"t0ken\"\n", `
[[alert]]
name = "typo"
series = "flaky.valeu"
above = 1
`))
	get := func(path string, v any) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, b)
			}
		}
		return resp.StatusCode, string(b)
	}
	var al alertsJSON
	waitFor(t, 10*time.Second, "answer-high firing", func() bool {
		get("/api/v1/alerts", &al)
		return al.rule("answer-high") == "firing"
	})
	if al.rule("typo") != "no data" || al.Summary.NoData != 1 || al.Summary.Firing != 1 {
		t.Fatalf("alerts: %+v", al)
	}
	if a := al.Alerts[0]; a.Labels["probe"] != "flaky" || a.Labels["kind"] != "answer" {
		t.Errorf("labels %v", a.Labels)
	}
	waitFor(t, 10*time.Second, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooks) == 1
	})
	if !strings.Contains(hooks[0], `"status":"firing"`) || !strings.Contains(hooks[0], `"rule":"answer-high"`) {
		t.Errorf("webhook body %s", hooks[0])
	}

	// The page draws its alert rules from /api/v1/alerts (checked above),
	// which its OpenAPI document must list for the page to look;
	// TestDashboardInChromium sees them drawn.
	_, doc := get("/api/v1/openapi.json", nil)
	if !strings.Contains(doc, `"/api/v1/alerts"`) {
		t.Error("openapi.json lacks /api/v1/alerts: the page would not show the rules")
	}
	var status struct {
		Status   string `json:"status"`
		Alerting struct {
			Firing int `json:"firing"`
			NoData int `json:"no_data"`
		} `json:"alerting"`
		Alerts []struct{ Kind, Name string } `json:"alerts"`
		Events []struct{ Probe, To string }  `json:"events"`
	}
	waitFor(t, 10*time.Second, "the status to show the alert", func() bool {
		get("/api/v1/status", &status)
		return status.Alerting.Firing == 1
	})
	if status.Status != "crit" || status.Alerting.NoData != 1 || len(status.Alerts) == 0 || status.Alerts[0].Kind != "rule" || status.Alerts[0].Name != "answer-high" {
		t.Errorf("status %+v", status)
	}
	var evs struct {
		Events []struct{ Probe, Name, From, To string } `json:"events"`
	}
	waitFor(t, 10*time.Second, "the alert's events", func() bool {
		get("/api/v1/events", &evs)
		var got []string
		for _, e := range evs.Events {
			if e.Probe == "alerts" {
				got = append(got, e.From+">"+e.To)
			}
		}
		return strings.Join(got, " ") == "pending>firing >pending"
	})
	_, metrics := get("/metrics", nil)
	for _, want := range []string{`barbossa_alert_firing{alertname="answer-high",severity="critical"} 1`, `barbossa_alert_no_data{alertname="typo"} 1`,
		`barbossa_notifications_sent_total{receiver="hook",type="webhook"} 1`, `barbossa_notifications_queued{receiver="hook",type="webhook"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Silences: the token is required, the body is JSON, and the silence
	// shows on the alert.
	post := func(path, token, ctype, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := `{"matchers": {"alertname": "answer-high"}, "duration": "1h", "comment": "known"}`
	if code, _ := post("/api/v1/silences", "", "application/json", body); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	if code, b := post("/api/v1/silences", "t0ken", "application/x-www-form-urlencoded", body); code != http.StatusUnsupportedMediaType {
		t.Errorf("as a form: %d %s", code, b)
	}
	if code, b := post("/api/v1/silences", "t0ken", "application/json", `{"matchers": {}, "duration": "1h"}`); code != http.StatusBadRequest || !strings.Contains(b, "at least one") {
		t.Errorf("no matchers: %d %s", code, b)
	}
	if code, b := post("/api/v1/silences", "t0ken", "application/json", `{"matchers": {"a": "b"}, "duration": "1h", "extra": 1}`); code != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", code, b)
	}
	code, b := post("/api/v1/silences", "t0ken", "application/json", body)
	var sil struct {
		ID     string    `json:"id"`
		EndsAt time.Time `json:"ends_at"`
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(b), &sil) != nil || sil.ID == "" || time.Until(sil.EndsAt) < 59*time.Minute {
		t.Fatalf("silence: %d %s", code, b)
	}
	waitFor(t, 10*time.Second, "the alert silenced", func() bool {
		get("/api/v1/alerts", &al)
		return al.Summary.Silenced == 1 && len(al.Alerts) == 1 && len(al.Alerts[0].SilencedBy) == 1 && al.Alerts[0].SilencedBy[0] == sil.ID
	})
	del := func(id string) int {
		req, _ := http.NewRequest(http.MethodDelete, base+"/api/v1/silences/"+id, nil)
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := del(sil.ID); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
	if code := del(sil.ID); code != http.StatusNotFound {
		t.Errorf("DELETE again: %d", code)
	}
	waitFor(t, 10*time.Second, "the silence gone", func() bool {
		get("/api/v1/alerts", &al)
		return al.Summary.Silenced == 0 && al.Summary.Firing == 1 && len(al.Silences) == 0
	})
}

// TestSilencesNeedAToken: with no token configured, a silence is refused
// like an action: anyone who can reach the port could mute every alert.
func TestSilencesNeedAToken(t *testing.T) {
	base, _, _, _ := startAgentWith(t, t.TempDir(), testConfig)
	resp, err := http.Post(base+"/api/v1/silences", "application/json", strings.NewReader(`{"matchers": {"alertname": "x"}, "duration": "1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "silences need a token") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(base + "/api/v1/silences")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestReloadAlerts: SIGHUP's reload swaps the rules and receivers under a
// running agent: the new rule fires and reaches the new receiver, the
// removed rule's alert resolves, and nothing is named as needing a
// restart.
func TestReloadAlerts(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	const v1 = `
[agent]
data_dir = "data"
[portal]
listen = "127.0.0.1:0"
[[probe]]
name = "flaky"
interval = "200ms"
timeout = "100ms"
[alerting]
interval = "200ms"
[[alert]]
name = "old-rule"
series = "flaky.value"
above = 40
`
	dir := t.TempDir()
	base, logs, a, _ := startAgentWith(t, dir, v1)
	var al alertsJSON
	waitFor(t, 10*time.Second, "old-rule firing", func() bool {
		getJSON(t, base+"/api/v1/alerts", &al)
		return al.rule("old-rule") == "firing"
	})
	v2 := strings.Replace(v1, `name = "old-rule"`, `name = "new-rule"`, 1) + `
[[notify]]
name = "hook"
type = "webhook"
url = "` + hook.URL + `"
group_wait = "0s"
`
	if err := os.WriteFile(filepath.Join(dir, "barbossa.toml"), []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, logs)
	}
	waitFor(t, 10*time.Second, "new-rule firing to the new receiver", func() bool {
		getJSON(t, base+"/api/v1/alerts", &al)
		mu.Lock()
		defer mu.Unlock()
		return al.rule("new-rule") == "firing" && len(hooks) == 1
	})
	if len(al.Rules) != 1 {
		t.Errorf("rules after the reload: %+v", al.Rules)
	}
	resolved := false
	for _, x := range al.Alerts {
		resolved = resolved || x.Rule == "old-rule" && x.State == "resolved"
	}
	if !resolved {
		t.Errorf("old-rule's alert did not resolve: %+v", al.Alerts)
	}
	if strings.Contains(logs.String(), "take effect only after a restart") {
		t.Errorf("alerting named as needing a restart:\n%s", logs)
	}
}

// TestHangingReceiverDelaysNeitherProbesNorPortal: a receiver that takes
// the request and never answers holds only its own delivery. While it
// hangs, the probes keep their schedule, the portal answers at once, and
// the agent still stops promptly.
func TestHangingReceiverDelaysNeitherProbesNorPortal(t *testing.T) {
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hook.Close()
	defer close(release)
	base, _, _, stop := startAgentWith(t, t.TempDir(), flakyAlerting(hook.URL, "", `timeout = "5m"`+"\n"))
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the alert never reached the receiver")
	}
	// The send is in flight, and stays so for the rest of the test.
	var p healthJSON
	getJSON(t, base+"/api/v1/probes/flaky", &p)
	runs := p.Runs
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 5 {
		resp, err := client.Get(base + "/api/v1/status")
		if err != nil {
			t.Fatalf("status %d while the receiver hangs: %v", i, err)
		}
		resp.Body.Close()
	}
	waitFor(t, 20*time.Second, "ten more runs of the probe while the receiver hangs", func() bool {
		getJSON(t, base+"/api/v1/probes/flaky", &p)
		return p.Runs >= runs+10
	})
	began := time.Now()
	stop()
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the agent took %s to stop with a send in flight", took)
	}
}
