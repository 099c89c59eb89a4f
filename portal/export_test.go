package portal

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestExportJSON(t *testing.T) {
	f := newFake()
	h := newTestServer(t, f, "")
	rec := get(t, h, "/api/v1/export?range=2h&step=1s")
	wantStatus(t, rec, http.StatusOK)
	var body queryBody
	decode(t, rec, &body)
	// No series= exports every stored name, with all its label sets.
	if len(body.Series) != 3 {
		t.Fatalf("%d series, want 3: %s", len(body.Series), rec.Body)
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
	rec := get(t, h, `/api/v1/export?format=csv&range=2h&step=1s&series=system.disk.used_percent{mount="/"}`)
	wantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content-type %q", ct)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "series,labels,time,unix_ms,value" {
		t.Fatalf("rows = %q", rows)
	}
	if rows[1][0] != "system.disk.used_percent" || rows[1][1] != `device="sda1",mount="/"` || rows[2][4] != "61.6" {
		t.Errorf("rows = %q", rows)
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
