package portal

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/core/store"
)

// exportBody is what a client reads of the JSON export.
type exportBody struct {
	From, To time.Time
	Series   []struct {
		Probe  string
		Points [][2]float64
	}
}

func TestExportJSON(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	rec := get(t, h, "/api/v1/export?range=2h&step=1s")
	wantStatus(t, rec, http.StatusOK)
	var body exportBody
	decode(t, rec, &body)
	// No series= exports every stored series, of every probe.
	if len(body.Series) != 4 || body.Series[3].Probe != "evil" {
		t.Fatalf("%d series, want 4: %s", len(body.Series), rec.Body)
	}
	if got := body.To.Sub(body.From); got != 2*time.Hour {
		t.Errorf("range 2h gave a window of %s", got)
	}
	if !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Errorf("no attachment disposition: %q", rec.Header().Get("Content-Disposition"))
	}
}

func TestExportCSV(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	rec := get(t, h, `/api/v1/export?format=csv&range=2h&step=1s&series=system.disk.used_percent{mount="/",probe="system"}`)
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content-type %q", ct)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "series,probe,labels,time,unix_ms,value" {
		t.Fatalf("rows = %q", rows)
	}
	if rows[1][0] != "system.disk.used_percent" || rows[1][1] != "system" || rows[1][2] != `device="sda1",mount="/"` || rows[2][5] != "61.6" {
		t.Errorf("rows = %q", rows)
	}
}

// The export's limit counts series, not names: one name with more series
// than the limit is refused before anything is written.
func TestExportCountsSeries(t *testing.T) {
	f := newFake()
	f.series, f.seriesList = nil, nil
	for i := range maxExportSeries + 1 {
		l := map[string]string{"id": strconv.Itoa(i)}
		f.series = append(f.series, store.Series{Probe: "evil", Name: "evil.x", Labels: l})
		f.seriesList = append(f.seriesList, store.SeriesInfo{Probe: "evil", Name: "evil.x", Labels: l})
	}
	h := newTestServer(t, f, "")
	for _, path := range []string{"/api/v1/export", "/api/v1/export?series=evil.x", "/api/v1/export?format=csv&series=evil.x&series=other"} {
		rec := get(t, h, path)
		wantStatus(t, rec, http.StatusBadRequest)
		if !strings.Contains(rec.Body.String(), "more than 2000 series match") {
			t.Errorf("%s: %s", path, rec.Body)
		}
	}
	if len(f.queries) != 0 {
		t.Errorf("points were read for a refused export: %+v", f.queries)
	}
	f.seriesList = f.seriesList[:maxExportSeries]
	f.series = f.series[:maxExportSeries]
	rec := get(t, h, "/api/v1/export?series=evil.x")
	wantStatus(t, rec, http.StatusOK)
	var body exportBody
	decode(t, rec, &body)
	if len(body.Series) != maxExportSeries {
		t.Errorf("%d series exported, want %d", len(body.Series), maxExportSeries)
	}
}

func TestExportBadParams(t *testing.T) {
	h := newTestServer(t, newFake(), "")
	for path, param := range map[string]string{
		"/api/v1/export?format=xml":               "format",
		"/api/v1/export?range=forever":            "range",
		"/api/v1/export?range=1h&from=-2h":        "range",
		"/api/v1/export?series=bad{":              "series",
		"/api/v1/export?range=7d&step=1s":         "step",
		"/api/v1/query?series=x&range=0s":         "range",
		"/api/v1/export?format=csv&to=yesterday":  "to",
		"/api/v1/export?format=json&from=garbage": "from",
		`/api/v1/export?series=a{probe=""}`:       "series",
	} {
		rec := get(t, h, path)
		wantStatus(t, rec, http.StatusBadRequest)
		var e struct{ Error, Param string }
		decode(t, rec, &e)
		if e.Param != param {
			t.Errorf("%s: param %q, want %q (%s)", path, e.Param, param, e.Error)
		}
	}
}
