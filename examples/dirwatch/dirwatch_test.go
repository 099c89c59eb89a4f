package dirwatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestSummarize(t *testing.T) {
	entries := []sdk.DirEntry{
		{Name: "a", Type: "file", Size: 10, ModTime: t0.Add(-time.Hour)},
		{Name: "big", Type: "file", Size: 2 << 20, ModTime: t0.Add(-time.Minute)},
		{Name: "bigger", Type: "file", Size: 3 << 20, ModTime: t0.Add(-2 * time.Hour)},
		{Name: "edge", Type: "file", Size: 1 << 20, ModTime: t0.Add(-3 * time.Hour)},
		{Name: "sub", Type: "dir", Size: 4096, ModTime: t0},
		{Name: "link", Type: "symlink", Size: 9 << 20, ModTime: t0},
		{Name: "gone", Type: "file"}, // went away while listed: no metadata
	}
	s := Summarize(entries, 1<<20)
	if s.Files != 5 || s.Bytes != 10+2<<20+3<<20+1<<20 || !s.Newest.Equal(t0.Add(-time.Minute)) {
		t.Errorf("summary %+v", s)
	}
	if len(s.Big) != 2 || s.Big[0].Name != "bigger" || s.Big[1].Name != "big" {
		t.Errorf("big files (over, not at, 1 MiB; biggest first): %+v", s.Big)
	}
	if s := Summarize(nil, 1<<20); s.Files != 0 || !s.Newest.IsZero() {
		t.Errorf("an empty folder: %+v", s)
	}
}

func TestReport(t *testing.T) {
	s := Summarize([]sdk.DirEntry{
		{Name: "a", Type: "file", Size: 5 << 20, ModTime: t0.Add(-90 * time.Second)},
		{Name: "b", Type: "file", Size: 4 << 20, ModTime: t0.Add(-time.Hour)},
	}, 1<<20)
	cfg := Config{Dir: "/d", MaxBig: 1}
	r := s.Report(cfg, t0)
	want := map[string]float64{"dirwatch.files": 2, "dirwatch.bytes": 9 << 20, "dirwatch.big_files": 2, "dirwatch.newest_age_seconds": 90, "dirwatch.truncated": 0}
	if len(r.Metrics) != len(want) {
		t.Errorf("metrics %+v", r.Metrics)
	}
	for _, m := range r.Metrics {
		if w, ok := want[m.Name]; !ok || m.Value != w || m.Labels["dir"] != "/d" {
			t.Errorf("%s = %v %v; want %v", m.Name, m.Value, m.Labels, w)
		}
	}
	if r.Status != sdk.StatusOK || len(r.Entities) != 1 || r.Entities[0].ID != "a" || r.Entities[0].Attrs["bytes"] != int64(5<<20) {
		t.Errorf("report %+v", r)
	}
	s.Truncated = true
	if r := s.Report(cfg, t0); r.Status != sdk.StatusWarn || !strings.Contains(r.Message, "max_dir_entries") {
		t.Errorf("a cut listing: %s %q", r.Status, r.Message)
	}
}

// host answers read_file with a canned listing, as the agent would.
type host struct{ answer string }

func (h host) Call(_ context.Context, fn string, req []byte) ([]byte, error) {
	var r struct{ Path string }
	if fn != "read_file" || json.Unmarshal(req, &r) != nil || r.Path != "/d" {
		return []byte(`{"error": "denied: not granted in this test"}`), nil
	}
	return []byte(h.answer), nil
}

func (host) Log(sdk.Level, string) {}

func TestCollect(t *testing.T) {
	collect := func(answer, config string) (sdk.Report, error) {
		prev := sdk.SetTransport(host{answer})
		defer sdk.SetTransport(prev)
		var cfg map[string]any
		if err := json.Unmarshal([]byte(config), &cfg); err != nil {
			t.Fatal(err)
		}
		return New().Collect(context.Background(), sdk.Request{Probe: "dirwatch", Config: cfg})
	}
	now := time.Now().UnixNano()
	listing := `{"entries":[{"name":"x","type":"file","size":3,"mtime_ns":` + jsonInt(now) + `},{"name":"y","type":"file","size":4,"mtime_ns":1}]`
	r, err := collect(listing+`}`, `{"dir":"/d"}`)
	if err != nil || r.Status != sdk.StatusOK || !strings.HasPrefix(r.Message, "2 files, 7 bytes, newest") {
		t.Errorf("collect: %+v, %v", r, err)
	}
	r, err = collect(listing+`,"truncated":true}`, `{"dir":"/d"}`)
	if err != nil || r.Status != sdk.StatusWarn || !strings.Contains(r.Message, "stopped at the probe's max_dir_entries") {
		t.Errorf("a cut listing: %+v, %v", r, err)
	}
	if _, err := collect(listing+`}`, `{"dir":"/etc"}`); !errors.Is(err, sdk.ErrDenied) {
		t.Errorf("a folder not granted: %v", err)
	}
	if _, err := collect(listing+`}`, `{}`); err == nil || !strings.Contains(err.Error(), "[config] dir is not set") {
		t.Errorf("no dir: %v", err)
	}
	if _, err := collect(listing+`}`, `{"dir":"/d","big":1}`); err == nil || !strings.Contains(err.Error(), "big") {
		t.Errorf("a misspelt key: %v", err)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
