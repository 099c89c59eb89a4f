//go:build linux

package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestPrometheusScrapesTheAgent runs a real Prometheus against a running
// agent whose portal has a token: Prometheus scrapes /metrics with it, and
// what it stored answers PromQL the way a fleet dashboard would ask.
func TestPrometheusScrapesTheAgent(t *testing.T) {
	theFlaky.failing.Store(false)
	const token = "s3cret-scrape-token"
	base, logs, a, _ := startAgentWith(t, t.TempDir(), `
[portal]
listen = "127.0.0.1:0"
token = "`+token+`"
[[probe]]
name = "system"
interval = "1s"
timeout = "900ms"
[[probe]]
name = "flaky"
interval = "200ms"
timeout = "100ms"
`)
	_ = base
	prom := testenv.StartPrometheus(t, time.Second, token, a.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Each query must eventually return exactly one series with the value
	// the check accepts.
	for _, q := range []struct {
		promql string
		ok     func(float64) bool
		want   string
	}{
		{`up{job="barbossa"}`, func(v float64) bool { return v == 1 }, "1 (scrapes succeed with the token)"},
		{`barbossa_probe_up{probe="system"}`, func(v float64) bool { return v == 1 }, "1"},
		{`barbossa_probe_runs_total{probe="flaky"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{`flaky_value{probe="flaky",kind="answer"}`, func(v float64) bool { return v == 42 }, "42"},
		{`system_memory_used_percent{probe="system"}`, func(v float64) bool { return v > 0 && v <= 100 }, "a percentage"},
		{`count(system_cpu_percent{probe="system"}) >= 1`, func(v float64) bool { return v >= 1 }, "at least the total"},
		{`barbossa_probes`, func(v float64) bool { return v == 2 }, "2"},
		{`barbossa_store_dropped_records_total`, func(v float64) bool { return v == 0 }, "0"},
	} {
		var last string
		for {
			got, err := prom.Query(ctx, q.promql)
			if err == nil && len(got) == 1 && q.ok(got[0].Value) {
				break
			}
			last = fmt.Sprintf("%v %v", got, err)
			if ctx.Err() != nil {
				t.Fatalf("%s: want %s, last answer %s\nprometheus log:\n%s\nagent log:\n%s", q.promql, q.want, last, prom.Log(), logs)
			}
			time.Sleep(250 * time.Millisecond) // a real Prometheus scraping: polled on the real clock
		}
	}
}
