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

// maxExportSeries bounds one export: with every series at up to maxPoints
// points each, a response stays in the tens of megabytes.
const maxExportSeries = 2000

// handleExport writes history as CSV or JSON: the series named by series=
// (all of them by default) over from/to or range, at step. It streams, one
// series at a time, so a large export does not sit in memory.
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
	queries, err := s.exportQueries(p)
	if err != nil {
		s.log.Warn("portal: export", "err", err)
		writeError(w, r, http.StatusInternalServerError, err, "")
		return
	}
	if len(queries) > maxExportSeries {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf("series: %d series match, more than %d: name fewer", len(queries), maxExportSeries), "series")
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
func (s *Server) exportQueries(p queryParams) ([]store.Query, error) {
	var out []store.Query
	if len(p.Selectors) > 0 {
		for _, sel := range p.Selectors {
			out = append(out, store.Query{Name: sel.Name, Labels: sel.Labels, From: p.From, To: p.To, Step: p.Step})
		}
		return out, nil
	}
	list, err := s.src.SeriesList()
	if err != nil {
		return nil, fmt.Errorf("listing series: %w", err)
	}
	// One query per name: the store returns every label set of it.
	names := map[string]bool{}
	for _, si := range list {
		names[si.Name] = true
	}
	for n := range names {
		out = append(out, store.Query{Name: n, From: p.From, To: p.To, Step: p.Step})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// exportCSV writes one row per point: series, labels, time, value.
func (s *Server) exportCSV(w http.ResponseWriter, queries []store.Query) {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"series", "labels", "time", "unix_ms", "value"})
	for _, q := range queries {
		ss, err := s.src.Query(q)
		if err != nil {
			// Headers are gone: the best we can do is end the file early
			// with a row a reader will notice.
			s.log.Warn("portal: export query", "series", q.Name, "err", err)
			_ = cw.Write([]string{"#error", q.Name, err.Error()})
			break
		}
		for _, sr := range ss {
			labels := formatLabels(sr.Labels)
			for _, pt := range sr.Points {
				_ = cw.Write([]string{sr.Name, labels, time.UnixMilli(pt.T).UTC().Format(time.RFC3339Nano),
					strconv.FormatInt(pt.T, 10), strconv.FormatFloat(pt.V, 'g', -1, 64)})
			}
		}
		cw.Flush()
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
		ss, err := s.src.Query(q)
		if err != nil {
			s.log.Warn("portal: export query", "series", q.Name, "err", err)
			break // the document ends without its closing brackets: invalid, not silently short
		}
		for _, sr := range ss {
			if sr.Labels == nil {
				sr.Labels = map[string]string{}
			}
			if sr.Points == nil {
				sr.Points = []store.Point{}
			}
			if !first {
				_, _ = w.Write([]byte(","))
			}
			first = false
			_ = enc.Encode(sr)
		}
		if err != nil {
			return
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
