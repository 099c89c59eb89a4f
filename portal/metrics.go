package portal

import (
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/barbossa-agent/barbossa/core/limits"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Probe health families. Counters come straight from the scheduler's
// totals, which only grow while the agent runs.
var (
	probeLabels   = []string{"probe"}
	descUp        = ownDesc("barbossa_probe_up", "1 when the probe's state is ok (its last run succeeded and is recent), else 0.", probeLabels)
	descRuns      = ownDesc("barbossa_probe_runs_total", "Completed runs of the probe.", probeLabels)
	descFailures  = ownDesc("barbossa_probe_failures_total", "Runs that failed: errors, panics and timeouts.", probeLabels)
	descTimeouts  = ownDesc("barbossa_probe_timeouts_total", "Runs that hit the probe's timeout.", probeLabels)
	descSkipped   = ownDesc("barbossa_probe_skipped_total", "Ticks skipped because the previous run was still in flight.", probeLabels)
	descDenied    = ownDesc("barbossa_probe_denied_total", "Host calls denied to the probe by its grants.", probeLabels)
	descDuration  = ownDesc("barbossa_probe_duration_seconds", "Duration of the probe's last completed run.", probeLabels)
	descLastRun   = ownDesc("barbossa_probe_last_run_timestamp_seconds", "Start of the probe's last completed run, unix seconds; 0 if it never ran.", probeLabels)
	descLastOK    = ownDesc("barbossa_probe_last_success_timestamp_seconds", "Start of the probe's last successful run, unix seconds; 0 if none.", probeLabels)
	descConsec    = ownDesc("barbossa_probe_consecutive_failures", "Failed runs since the last success.", probeLabels)
	descDropped   = ownDesc("barbossa_probe_dropped_total", "Metrics and entities of the probe's reports the agent did not keep (a limit), and store writes it lost (a full queue or disk, a refused write), by reason.", []string{"probe", "reason"})
	descSeries    = ownDesc("barbossa_probe_series", "Series the probe has active, against its max_series.", probeLabels)
	descEntity    = ownDesc("barbossa_entity_healthy", "1 when an entity's health is ok, else 0.", []string{"probe", "kind", "id", "name"})
	descBuildInfo = ownDesc("barbossa_build_info", "Always 1; labels carry the agent version.", []string{"version"})
)

// ownFamilies are names a probe's metric may not take: the scrape would
// fail on a clash with the health families.
var ownFamilies = map[string]bool{}

func ownDesc(name, help string, labels []string) *prometheus.Desc {
	ownFamilies[name] = true
	return prometheus.NewDesc(name, help, labels, nil)
}

// metricsHandler builds the /metrics handler on a registry of our own, so
// nothing registered globally by a library leaks into the scrape.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		probeCollector{s},
	)
	reg.MustRegister(s.cfg.Collectors...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A bad metric costs that metric, not the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{s},
	})
}

type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("portal: metrics", "err", v) }

// probeCollector exposes probe health and every metric of every probe's
// latest report. It is unchecked (Describe sends nothing) because report
// metrics are only known once probes have reported.
type probeCollector struct{ s *Server }

func (probeCollector) Describe(chan<- *prometheus.Desc) {}

func (c probeCollector) Collect(ch chan<- prometheus.Metric) {
	sn := c.s.cache.get()
	for _, m := range sn.promMetrics() {
		ch <- m
	}
}

// promMetrics builds the snapshot's metrics once; scrapes between two data
// changes reuse them.
func (sn *snapshot) promMetrics() []prometheus.Metric {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.prom == nil {
		sn.prom = buildMetrics(sn.host, sn.health, sn.reports())
	}
	return sn.prom
}

// reports returns the fresh reports by probe, in health order.
func (sn *snapshot) reports() []probeReport {
	var out []probeReport
	for _, h := range sn.health {
		if rec, ok := sn.latest[h.Name]; ok {
			out = append(out, probeReport{Probe: h.Name, Report: rec.Report})
		}
	}
	return out
}

type probeReport struct {
	Probe  string
	Report sdk.Report
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(h scheduler.Health, last bool) float64 {
	t := h.LastSuccess
	if last {
		t = h.LastRun
	}
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// buildMetrics turns health and reports into constant metrics. Pure, so the
// label handling is tested without a server.
func buildMetrics(host Host, health []scheduler.Health, reports []probeReport) []prometheus.Metric {
	out := make([]prometheus.Metric, 0, 12*len(health)+1)
	add := func(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
		if m, err := prometheus.NewConstMetric(d, t, v, lv...); err == nil {
			out = append(out, m)
		}
	}
	version := host.AgentVersion
	if version == "" {
		version = "unknown"
	}
	add(descBuildInfo, prometheus.GaugeValue, 1, version)
	for _, h := range health {
		p := validUTF8(h.Name)
		add(descUp, prometheus.GaugeValue, b2f(h.State == scheduler.StateOK), p)
		add(descRuns, prometheus.CounterValue, float64(h.Runs), p)
		add(descFailures, prometheus.CounterValue, float64(h.Failures), p)
		add(descTimeouts, prometheus.CounterValue, float64(h.Timeouts), p)
		add(descSkipped, prometheus.CounterValue, float64(h.Skipped), p)
		add(descDenied, prometheus.CounterValue, float64(h.Denied), p)
		add(descDuration, prometheus.GaugeValue, h.DurationMS/1000, p)
		add(descLastRun, prometheus.GaugeValue, unixSeconds(h, true), p)
		add(descLastOK, prometheus.GaugeValue, unixSeconds(h, false), p)
		add(descConsec, prometheus.GaugeValue, float64(h.ConsecutiveFailures), p)
		add(descSeries, prometheus.GaugeValue, float64(h.Series), p)
		for reason, n := range h.Dropped {
			add(descDropped, prometheus.CounterValue, float64(n), p, validUTF8(reason))
		}
	}

	seenEntity := map[string]bool{}
	for _, r := range reports {
		for _, e := range r.Report.Entities {
			lv := []string{validUTF8(r.Probe), validUTF8(e.Kind), validUTF8(e.ID), validUTF8(e.Name)}
			k := strings.Join(lv, "\xff")
			if seenEntity[k] {
				continue
			}
			seenEntity[k] = true
			add(descEntity, prometheus.GaugeValue, b2f(e.Health == sdk.StatusOK), lv...)
		}
	}
	return append(out, reportMetrics(reports)...)
}

// family is one exported metric name with the union of the label names its
// samples carry: client_golang rejects a scrape in which one name appears
// with different label sets, so absent labels are filled with "".
type family struct {
	help   string
	labels []string // sorted, "probe" included
	desc   *prometheus.Desc
}

type sample struct {
	family string
	labels map[string]string // sanitized names
	value  float64
}

func reportMetrics(reports []probeReport) []prometheus.Metric {
	fams := map[string]*family{}
	var samples []sample
	for _, r := range reports {
		for _, m := range r.Report.Metrics {
			name := metricName(m.Name)
			if ownFamilies[name] || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
				continue
			}
			ls := make(map[string]string, len(m.Labels)+1)
			// Sorted so that which of two labels that sanitize to the same
			// name wins does not depend on map order.
			keys := make([]string, 0, len(m.Labels))
			for k := range m.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				ln := labelName(k)
				if _, dup := ls[ln]; !dup {
					ls[ln] = validUTF8(m.Labels[k])
				}
			}
			ls["probe"] = validUTF8(r.Probe)
			f := fams[name]
			if f == nil {
				f = &family{help: "Probe metric " + validUTF8(m.Name) + " (latest report)."}
				fams[name] = f
			}
			for ln := range ls {
				if !contains(f.labels, ln) {
					f.labels = append(f.labels, ln)
				}
			}
			samples = append(samples, sample{family: name, labels: ls, value: m.Value})
		}
	}
	for name, f := range fams {
		sort.Strings(f.labels)
		f.desc = prometheus.NewDesc(name, f.help, f.labels, nil)
	}
	out := make([]prometheus.Metric, 0, len(samples))
	seen := make(map[string]bool, len(samples))
	lv := make([]string, 0, 8)
	for _, s := range samples {
		f := fams[s.family]
		lv = lv[:0]
		for _, ln := range f.labels {
			lv = append(lv, s.labels[ln])
		}
		// Two probes' metrics, or two names that sanitize alike, can
		// land on the same series: the first wins, as a duplicate would
		// fail the scrape.
		key := s.family + "\xff" + strings.Join(lv, "\xff")
		if seen[key] {
			continue
		}
		seen[key] = true
		m, err := prometheus.NewConstMetric(f.desc, prometheus.GaugeValue, s.value, lv...)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// metricName maps a report metric name to a Prometheus one: every character
// outside [a-zA-Z0-9_:] becomes "_" (system.load.1 -> system_load_1), and a
// leading digit gets a "_" in front.
func metricName(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i, c := range s {
		switch {
		case c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			b.WriteRune(c)
		case c >= '0' && c <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// labelName is metricName without ':' (not allowed in label names), without
// the "__" prefix Prometheus reserves, and with "probe" renamed to
// "exported_probe", since probe is the label naming the probe (the agent's
// limits rename it before the store already; this covers the rest).
func labelName(s string) string {
	n := strings.ReplaceAll(metricName(s), ":", "_")
	for strings.HasPrefix(n, "__") {
		n = n[1:]
	}
	if n == limits.ProbeLabel {
		return limits.ExportedProbe
	}
	return n
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
