package portal

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/core/store"
)

// maxExportSeries bounds one export, counted in series (not names): with
// every series at up to maxPoints points, a download stays in the hundreds
// of megabytes, and it is written one series at a time.
const maxExportSeries = 2000

// handleExport writes history as CSV or JSON: the series named by series=
// (all of them by default) over from/to or range, at step. It counts the
// matching series first (more than maxExportSeries is a 400), then streams
// them one at a time, so a large export does not sit in memory.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("format: %q is not csv or json", format), "format")
		return
	}
	p, err := parseWindow(q, time.Now())
	if err == nil && len(q["series"]) > 0 {
		p.Selectors, err = parseSelectors(q["series"])
	}
	if err != nil {
		writeParamError(w, r, err)
		return
	}
	queries := exportQueries(p)
	n, err := s.countSeries(queries, maxExportSeries)
	if err != nil {
		s.log.Warn("portal: export", "err", err)
		writeError(w, r, http.StatusInternalServerError, err, "")
		return
	}
	if n > maxExportSeries {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("series: more than %d series match: name fewer (a name, labels, probe=\"...\")", maxExportSeries), "series")
		return
	}
	name := "barbossa-export-" + p.To.UTC().Format("20060102T150405Z") + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		s.exportCSV(w, queries)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	s.exportJSON(w, p, queries)
}

// exportQueries turns the selectors (or, with none, every stored series)
// into store queries over the window.
func exportQueries(p queryParams) []store.Query {
	if len(p.Selectors) == 0 {
		return []store.Query{{From: p.From, To: p.To, Step: p.Step, MaxSeries: maxExportSeries}}
	}
	out := make([]store.Query, 0, len(p.Selectors))
	for _, sel := range p.Selectors {
		q := sel.storeQuery(p)
		q.MaxSeries = maxExportSeries
		out = append(out, q)
	}
	return out
}

// countSeries counts the series the queries match, reading the index a
// page at a time, and stops past max.
func (s *Server) countSeries(queries []store.Query, max int) (int, error) {
	n := 0
	for _, q := range queries {
		m := store.Match{Name: q.Name, Probe: q.Probe, Labels: q.Labels}
		cursor := ""
		for n <= max {
			page, next, err := s.src.SeriesList(m, cursor, max+1-n)
			if err != nil {
				return 0, fmt.Errorf("counting series: %w", err)
			}
			n += len(page)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return n, nil
}

// exportCSV writes one row per point: series, probe, labels, time, value.
func (s *Server) exportCSV(w http.ResponseWriter, queries []store.Query) {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"series", "probe", "labels", "time", "unix_ms", "value"})
	for _, q := range queries {
		err := s.src.QueryEach(q, func(sr store.Series) error {
			labels := formatLabels(sr.Labels)
			for _, pt := range sr.Points {
				_ = cw.Write([]string{sr.Name, sr.Probe, labels, time.UnixMilli(pt.T).UTC().Format(time.RFC3339Nano),
					strconv.FormatInt(pt.T, 10), strconv.FormatFloat(pt.V, 'g', -1, 64)})
			}
			cw.Flush()
			return cw.Error()
		})
		if err != nil {
			// Headers are gone: the best we can do is end the file early
			// with a row a reader will notice.
			s.log.Warn("portal: export query", "series", q.Name, "err", err)
			_ = cw.Write([]string{"#error", q.Name, err.Error()})
			break
		}
	}
	cw.Flush()
}

// exportJSON writes the /api/v1/query shape, one series at a time.
func (s *Server) exportJSON(w http.ResponseWriter, p queryParams, queries []store.Query) {
	head, _ := json.Marshal(queryBody{From: p.From, To: p.To, StepSeconds: p.Step.Seconds()})
	// Reopen the encoded object's empty "series" to stream its elements.
	head = head[:len(head)-len(`null}`)]
	_, _ = w.Write(head)
	_, _ = w.Write([]byte("["))
	enc := json.NewEncoder(w)
	first := true
	for _, q := range queries {
		err := s.src.QueryEach(q, func(sr store.Series) error {
			if !first {
				if _, err := w.Write([]byte(",")); err != nil {
					return err
				}
			}
			first = false
			return enc.Encode(newSeriesView(sr))
		})
		if err != nil {
			s.log.Warn("portal: export query", "series", q.Name, "err", err)
			return // the document ends without its closing brackets: invalid, not silently short
		}
	}
	_, _ = w.Write([]byte("]}\n"))
}

// formatLabels writes labels as k="v" pairs in a stable order, the way a
// selector takes them.
func formatLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l[k]))
	}
	return b.String()
}
