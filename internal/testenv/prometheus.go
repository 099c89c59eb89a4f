package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's prometheus package)
// scraping the given targets, on a loopback port, with its data in a
// temporary folder. It is stopped when the test ends.
type Prometheus struct {
	addr string
	d    *daemon
}

// StartPrometheus starts Prometheus scraping targets (host:port, path
// /metrics) every interval, with bearer token when it is not "". It
// returns once Prometheus reports ready.
func StartPrometheus(t testing.TB, interval time.Duration, token string, targets ...string) *Prometheus {
	t.Helper()
	bin, err := lookTool("prometheus")
	if err != nil {
		missing(t, "prometheus", "apt-get install prometheus, or "+installHint)
		return nil
	}
	dir := t.TempDir()
	addr := freeLoopback(t)
	cfg := prometheusConfig(interval, token, dir, targets)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{addr: addr}
	p.d = startDaemon(t, "prometheus", bin, []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, filepath.Join(dir, "prometheus.log"), "http://"+addr+"/-/ready")
	return p
}

// prometheusConfig is a scrape config for targets. The token goes in a
// file, as Prometheus reads credentials.
func prometheusConfig(interval time.Duration, token, dir string, targets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n", interval, interval)
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: barbossa\n")
	if token != "" {
		file := filepath.Join(dir, "token")
		_ = os.WriteFile(file, []byte(token), 0o600)
		fmt.Fprintf(&b, "    authorization:\n      type: Bearer\n      credentials_file: %s\n", file)
	}
	b.WriteString("    static_configs:\n      - targets: [")
	for i, tg := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(tg))
	}
	b.WriteString("]\n")
	return b.String()
}

// URL is Prometheus's base URL.
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Sample is one series of an instant query's answer.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// Query runs an instant PromQL query through Prometheus's HTTP API.
func (p *Prometheus) Query(ctx context.Context, promql string) ([]Sample, error) {
	u := p.URL() + "/api/v1/query?query=" + url.QueryEscape(promql)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", promql, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s", promql, body.Error)
	}
	out := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %q: value %v: %w", promql, r.Value[1], err)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// Log is the tail of Prometheus's log, for failure messages.
func (p *Prometheus) Log() string { return tail(p.d.log, 30) }
