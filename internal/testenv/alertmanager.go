package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Alertmanager is a real Alertmanager (Debian's prometheus-alertmanager)
// on a loopback port, with its storage in a temporary folder, clustering
// off, and one route to a receiver that sends nowhere: a test reads what
// it holds through its API. It is stopped when the test ends.
type Alertmanager struct {
	addr string
	d    *daemon
}

// alertmanagerConfig groups nothing away and sends nowhere.
const alertmanagerConfig = `route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`

// StartAlertmanager starts Alertmanager and returns once it is ready.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	bin, err := lookTool("prometheus-alertmanager")
	if err != nil {
		missing(t, "prometheus-alertmanager", "apt-get install prometheus-alertmanager, or "+installHint)
		return nil
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(alertmanagerConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &Alertmanager{addr: freeLoopback(t)}
	a.d = startDaemon(t, "alertmanager", bin, []string{
		"--config.file=" + filepath.Join(dir, "alertmanager.yml"),
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + a.addr,
		"--cluster.listen-address=", // no gossip port: one Alertmanager, loopback only
		"--log.level=warn",
	}, filepath.Join(dir, "alertmanager.log"), "http://"+a.addr+"/-/ready")
	return a
}

// URL is Alertmanager's base URL, as a receiver's url.
func (a *Alertmanager) URL() string { return "http://" + a.addr }

// Log is the tail of Alertmanager's log, for failure messages.
func (a *Alertmanager) Log() string { return tail(a.d.log, 30) }

// AMAlert is one alert of Alertmanager's GET /api/v2/alerts.
type AMAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"` // active, suppressed, unprocessed
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds as active (firing, silenced
// or inhibited): an alert whose endsAt has passed is resolved and no
// longer listed.
func (a *Alertmanager) Alerts(ctx context.Context) ([]AMAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL()+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager: GET /api/v2/alerts: %s", resp.Status)
	}
	var out []AMAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("alertmanager: decode alerts: %w", err)
	}
	return out, nil
}
