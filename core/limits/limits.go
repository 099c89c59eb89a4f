// Package limits bounds what one probe's reports may bring into the agent:
// how many metrics and entities a report carries, how long metric names and
// labels are, how many labels a metric has, and how many series the probe
// keeps active. What is over is dropped — that metric or entity, never the
// rest of the report and never another probe's data — and counted by
// reason. It runs before anything reaches the store, so a hostile probe can
// neither exceed a storage key limit nor grow the agent's memory without
// bound.
//
//	g := limits.New(limits.Defaults())
//	kept, dropped := g.Apply(time.Now(), report) // dropped: {"max_series": 12}
//	store.Put(store.Record{Report: kept, ...})
//	totals := g.Dropped()                         // since g was made
package limits

import (
	"hash/maphash"
	"maps"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Config is one probe's limits. Every field must be positive: Defaults has
// the values the agent uses when the config says nothing.
type Config struct {
	Metrics         int           // metrics in one report
	Entities        int           // entities in one report
	NameBytes       int           // bytes of a metric name
	Labels          int           // labels of one metric
	LabelNameBytes  int           // bytes of a label name
	LabelValueBytes int           // bytes of a label value
	Series          int           // series the probe has active at once
	SeriesIdle      time.Duration // a series not reported for this long is no longer active
}

// Defaults are generous for every built-in probe (the system probe reports
// ~110 metrics, a host with 200 containers ~2,000) and small enough that a
// probe at every limit costs the agent a few MB.
func Defaults() Config {
	return Config{
		Metrics:         10_000,
		Entities:        5_000,
		NameBytes:       256,
		Labels:          32,
		LabelNameBytes:  128,
		LabelValueBytes: 1024,
		Series:          10_000,
		SeriesIdle:      time.Hour,
	}
}

// Reasons something is dropped: the reason label of
// barbossa_probe_dropped_total and the keys of a probe's "dropped" health.
// A limit's reason is the config key that sets it.
const (
	ReasonMetrics         = "max_metrics"           // metric past the report's max_metrics
	ReasonEntities        = "max_entities"          // entity past the report's max_entities
	ReasonName            = "invalid_name"          // not a name a selector can name (selector.ValidName)
	ReasonNameBytes       = "max_name_bytes"        // name longer than max_name_bytes
	ReasonLabels          = "max_labels"            // more labels than max_labels
	ReasonLabel           = "invalid_label"         // a label name like a bad metric name, or a value not UTF-8
	ReasonLabelNameBytes  = "max_label_name_bytes"  // label name longer than max_label_name_bytes
	ReasonLabelValueBytes = "max_label_value_bytes" // label value longer than max_label_value_bytes
	ReasonSeries          = "max_series"            // a new series while max_series are active
)

// ProbeLabel names the probe that reported a series (in selectors, in
// /metrics). A report's own label of that name is renamed ExportedProbe, as
// Prometheus does with a scraped label that clashes with a target label.
const (
	ProbeLabel    = selector.ProbeLabel
	ExportedProbe = "exported_probe"
)

// sweepEvery is how often idle series are forgotten: a series frees its
// slot at most this long after SeriesIdle.
const sweepEvery = time.Minute

// Guard applies one probe's limits. It remembers the probe's active series
// (at most Config.Series of them, 16 bytes each) and counts what it drops.
// Safe for concurrent use.
type Guard struct {
	seed maphash.Seed

	mu      sync.Mutex
	cfg     Config
	h       maphash.Hash
	series  map[uint64]int64 // active series -> last reported, unix ns
	swept   int64
	dropped map[string]uint64
}

// New returns a guard for cfg.
func New(cfg Config) *Guard {
	g := &Guard{cfg: cfg, seed: maphash.MakeSeed(), series: map[uint64]int64{}, dropped: map[string]uint64{}}
	g.h.SetSeed(g.seed)
	return g
}

// Config returns the limits g applies.
func (g *Guard) Config() Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

// SetConfig makes g apply cfg from the next report on, as a config reload
// does. What g remembers stays: its active series (still counted against
// the new Series: when there are more than it allows, series already
// active keep reporting and new ones are dropped until enough go idle) and
// its totals dropped.
func (g *Guard) SetConfig(cfg Config) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cfg = cfg
}

// Apply returns r without what is over g's limits, and what it dropped by
// reason (nil when nothing). r itself is not modified: slices and label maps
// that change are copies. now is the report's time; series not reported
// within SeriesIdle of it no longer count as active.
func (g *Guard) Apply(now time.Time, r sdk.Report) (sdk.Report, map[string]uint64) {
	var dropped map[string]uint64
	drop := func(reason string, n int) {
		if dropped == nil {
			dropped = map[string]uint64{}
		}
		dropped[reason] += uint64(n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(r.Entities) - g.cfg.Entities; n > 0 {
		r.Entities = r.Entities[:g.cfg.Entities:g.cfg.Entities]
		drop(ReasonEntities, n)
	}
	metrics := r.Metrics
	if n := len(metrics) - g.cfg.Metrics; n > 0 {
		metrics = metrics[:g.cfg.Metrics]
		drop(ReasonMetrics, n)
	}

	ns := now.UnixNano()
	g.sweep(ns)
	var kept []sdk.Metric // nil while every metric so far is kept as is
	for i, m := range metrics {
		reason, key, renamed := g.check(&m)
		if reason == "" {
			reason = g.admit(key, ns)
		}
		if reason != "" {
			drop(reason, 1)
		}
		if kept == nil && (reason != "" || renamed) {
			kept = make([]sdk.Metric, i, len(metrics))
			copy(kept, metrics[:i])
		}
		if kept != nil && reason == "" {
			kept = append(kept, m)
		}
	}
	switch {
	case kept != nil:
		r.Metrics = kept
	case len(metrics) < len(r.Metrics):
		r.Metrics = metrics[:len(metrics):len(metrics)]
	}
	for k, n := range dropped {
		g.dropped[k] += n
	}
	return r, dropped
}

// check returns why m is dropped, or "" and the key of its series. A
// label named ProbeLabel is renamed in a copy of m's labels (renamed is
// then true). One pass over the labels both checks and hashes them: label
// pairs are hashed one by one and summed, so map order does not matter and
// nothing is sorted.
func (g *Guard) check(m *sdk.Metric) (reason string, key uint64, renamed bool) {
	switch {
	case len(m.Name) > g.cfg.NameBytes:
		return ReasonNameBytes, 0, false
	case !selector.ValidName(m.Name):
		return ReasonName, 0, false
	case len(m.Labels) > g.cfg.Labels:
		return ReasonLabels, 0, false
	}
	g.h.Reset()
	g.h.WriteString(m.Name)
	key = g.h.Sum64()
	probe, hasProbe := "", false
	for k, v := range m.Labels {
		switch {
		case len(k) > g.cfg.LabelNameBytes:
			return ReasonLabelNameBytes, 0, false
		case len(v) > g.cfg.LabelValueBytes:
			return ReasonLabelValueBytes, 0, false
		case !selector.ValidName(k) || !utf8.ValidString(v):
			return ReasonLabel, 0, false
		case k == ProbeLabel:
			probe, hasProbe = v, true
			k = ExportedProbe
		}
		g.h.Reset()
		g.h.WriteString(k)
		g.h.WriteByte(0)
		g.h.WriteString(v)
		key += g.h.Sum64() * 0x9E3779B97F4A7C15 // spread, so pairs do not cancel
	}
	if !hasProbe {
		return "", key, false
	}
	if _, clash := m.Labels[ExportedProbe]; clash {
		return ReasonLabel, 0, false
	}
	l := maps.Clone(m.Labels)
	delete(l, ProbeLabel)
	l[ExportedProbe] = probe
	m.Labels = l
	return "", key, true
}

// admit records series key as reported at ns, or returns ReasonSeries when
// it is new and the probe already has its maximum of active series.
func (g *Guard) admit(key uint64, ns int64) string {
	if _, ok := g.series[key]; !ok && len(g.series) >= g.cfg.Series {
		return ReasonSeries
	}
	g.series[key] = ns
	return ""
}

// sweep forgets series idle for longer than SeriesIdle, at most once per
// sweepEvery so that a report costs O(its metrics), not O(all series).
func (g *Guard) sweep(ns int64) {
	if ns-g.swept < int64(sweepEvery) {
		return
	}
	g.swept = ns
	cutoff := ns - int64(g.cfg.SeriesIdle)
	for k, last := range g.series {
		if last < cutoff {
			delete(g.series, k)
		}
	}
}

// Dropped returns the totals dropped since g was made, by reason.
func (g *Guard) Dropped() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.dropped)
}

// Series is how many series the probe has active.
func (g *Guard) Series() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.series)
}
