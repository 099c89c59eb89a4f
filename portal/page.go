package portal

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
)

// web holds the page and its stylesheet, compiled into the binary so the
// agent is one file.
//
//go:embed web
var web embed.FS

var pageTmpl = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"uptime": func(s uint64) string { return (time.Duration(s) * time.Second).String() },
}).ParseFS(web, "web/index.html"))

// pageData is what the page shows: the status and the alert rules.
type pageData struct {
	statusBody
	Rules []alerting.RuleStatus
}

// handlePage renders the status as a plain HTML page. It is rendered once
// per snapshot like the JSON, and needs no JavaScript.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	sn := s.cache.get()
	e := sn.bodyOf("page", func() *encoded {
		var buf bytes.Buffer
		data := pageData{statusBody: sn.status()}
		if sn.alerting != nil {
			data.Rules = sn.alerting.Rules
		}
		if err := pageTmpl.Execute(&buf, data); err != nil {
			s.log.Error("portal: rendering page", "err", err)
			return errorBody(http.StatusInternalServerError, fmt.Errorf("rendering page: %w", err), "")
		}
		return sn.encode(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
	})
	w.Header().Set("Content-Security-Policy", pageCSP)
	serve(w, r, e)
}

// handleStyle serves the page's stylesheet. Only this file is served, not
// the embedded directory, so the template source stays private.
func handleStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(styleCSS)
}

var styleCSS = func() []byte {
	b, err := fs.ReadFile(web, "web/style.css")
	if err != nil {
		panic(err) // the embed directive guarantees the file
	}
	return b
}()
