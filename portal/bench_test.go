package portal

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// bigFake is a busy host: 10 probes, a system report of ~110 metrics and 30
// listeners, 40 containers, 150 systemd units, 50 recent events.
func bigFake() *fakeSource {
	f := newFake()
	sys := f.latest["system"]
	for i := range 16 {
		sys.Report.Gauge("system.cpu.percent", float64(i), map[string]string{"cpu": fmt.Sprint(i)})
	}
	for i := range 8 {
		l := map[string]string{"mount": fmt.Sprintf("/mnt/d%d", i), "device": fmt.Sprintf("sd%c1", 'a'+i)}
		for _, m := range []string{"total_bytes", "used_bytes", "free_bytes", "used_percent", "inodes_used_percent"} {
			sys.Report.Gauge("system.disk."+m, 1e9+float64(i), l)
		}
	}
	for i := range 6 {
		l := map[string]string{"interface": fmt.Sprintf("eth%d", i)}
		for _, m := range []string{"bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout"} {
			sys.Report.Gauge("system.net."+m, 123456789, l)
		}
	}
	for i := range 30 {
		sys.Report.Add(sdk.Entity{Kind: "listener", ID: fmt.Sprintf("tcp/0.0.0.0:%d", 8000+i), Name: fmt.Sprintf("svc%d 0.0.0.0:%d", i, 8000+i),
			State: "listening", Health: sdk.StatusOK, Attrs: map[string]any{"proto": "tcp", "address": "0.0.0.0", "port": float64(8000 + i), "process": fmt.Sprintf("svc%d", i)}})
	}
	f.latest["system"] = sys

	var dk sdk.Report
	for i := range 40 {
		name := fmt.Sprintf("app-%02d", i)
		h := sdk.StatusOK
		if i%13 == 0 {
			h = sdk.StatusWarn
		}
		dk.Gauge("docker.container.cpu_percent", float64(i)/10, map[string]string{"container": name})
		dk.Gauge("docker.container.memory_bytes", float64(i)*1e7, map[string]string{"container": name})
		dk.Add(sdk.Entity{Kind: "container", ID: fmt.Sprintf("%064d", i), Name: name, State: "running", Health: h,
			Attrs: map[string]any{"image": "registry.example.com/" + name + ":1.2.3", "restarts": float64(i % 3)}})
	}
	f.latest["docker"] = store.Record{Probe: "docker", Time: t0, DurationMS: 30, Report: dk}

	var sd sdk.Report
	for i := range 150 {
		sd.Add(sdk.Entity{Kind: "unit", ID: fmt.Sprintf("unit-%03d.service", i), Name: fmt.Sprintf("unit-%03d.service", i),
			State: "active", Health: sdk.StatusOK, Attrs: map[string]any{"sub": "running", "load": "loaded"}})
	}
	sd.Gauge("systemd.units", 150, nil)
	f.latest["systemd"] = store.Record{Probe: "systemd", Time: t0, DurationMS: 8, Report: sd}
	f.health = append(f.health, scheduler.Health{Name: "systemd", Runtime: "wasm", Source: "probes/systemd.wasm", State: "ok",
		LastRun: t0, LastSuccess: t0, DurationMS: 8, Runs: 100, IntervalMS: 30000, TimeoutMS: 10000})
	for i := range 5 {
		n := fmt.Sprintf("custom%d", i)
		var r sdk.Report
		r.Gauge(n+".value", float64(i), nil)
		f.latest[n] = store.Record{Probe: n, Time: t0, Report: r}
		f.health = append(f.health, scheduler.Health{Name: n, Runtime: "plugin", Source: "/opt/probes/" + n, State: "ok",
			LastRun: t0, LastSuccess: t0, Runs: 5, IntervalMS: 60000, TimeoutMS: 5000})
	}
	return f
}

// discard is a ResponseWriter that keeps nothing, so the benchmarks measure
// the handler and not a recorder's buffer.
type discard struct {
	h    http.Header
	n    int
	code int
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) Write(b []byte) (int, error) {
	d.n += len(b)
	return len(b), nil
}
func (d *discard) WriteHeader(c int) { d.code = c }

func benchStatus(b *testing.B, bump bool, hdr ...string) {
	f := bigFake()
	benchServe(b, f, New(Config{}, f, nil).Handler(), "/api/v1/status", bump, hdr...)
}

func benchServe(b *testing.B, f *fakeSource, h http.Handler, path string, bump bool, hdr ...string) {
	req := localRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.code != http.StatusOK && w.code != http.StatusNotModified {
		b.Fatalf("status %d", w.code)
	}
	size := w.n
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if bump {
			f.bump()
		}
		clear(w.h)
		w.n, w.code = 0, 0
		h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(size), "bytes/resp")
}

// BenchmarkStatusCached: the data did not change; the pre-encoded body is
// written as is.
func BenchmarkStatusCached(b *testing.B) { benchStatus(b, false) }

// BenchmarkStatusCachedGzip: same, for a client that accepts gzip.
func BenchmarkStatusCachedGzip(b *testing.B) { benchStatus(b, false, "Accept-Encoding", "gzip") }

// BenchmarkStatusNotModified: a poller sending its ETag back.
func BenchmarkStatusNotModified(b *testing.B) {
	f := bigFake()
	h := New(Config{}, f, nil).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest(http.MethodGet, "/api/v1/status", nil))
	benchServe(b, f, h, "/api/v1/status", false, "If-None-Match", rec.Header().Get("ETag"))
}

// BenchmarkStatusEncode: the data changes before every request, so each
// one reads the Source and encodes identity and gzip bodies: what every
// request would cost without the cache.
func BenchmarkStatusEncode(b *testing.B) { benchStatus(b, true) }

// BenchmarkQuery: a day of one-minute points of 50 series (72,000 points,
// 2.2 MB of JSON), read and encoded on every request as queries are.
func BenchmarkQuery(b *testing.B) {
	f := newFake()
	f.series = nil
	for i := range 50 {
		pts := make([]store.Point, 1440)
		for j := range pts {
			pts[j] = store.Point{T: t0.UnixMilli() - int64(j)*60_000, V: float64(i*j) / 7}
		}
		f.series = append(f.series, store.Series{Probe: "bench", Name: "bench.x", Labels: map[string]string{"i": fmt.Sprint(i)}, Points: pts})
	}
	benchServe(b, f, New(Config{}, f, nil).Handler(), "/api/v1/query?series=bench.x&range=1d&step=1m", false)
}

func BenchmarkMetricsScrape(b *testing.B) {
	f := bigFake()
	h := New(Config{}, f, nil).Handler()
	req := localRequest(http.MethodGet, "/metrics", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
