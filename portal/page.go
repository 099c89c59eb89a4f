package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// web holds the dashboard, compiled into the binary so the agent is one
// file and the page works offline: index.html (the page, which fetches
// everything else from the API), login.html (the login form's template),
// openapi.json (the API's OpenAPI document) and static/ (the page's scripts and stylesheet, and the vendored chart
// library, uPlot, with its license; scripts/fetch-uplot.sh re-fetches it).
//
//go:embed web
var web embed.FS

var loginTmpl = template.Must(template.ParseFS(web, "web/login.html"))

// pageFile and assets are encoded once, identity and gzip, with an ETag
// from their content: a browser revalidates them with a 304.
var (
	pageFile    = mustEncodeFile("web/index.html")
	openAPIFile = mustEncodeFile("web/openapi.json")
	assets      = loadAssets()
)

// handleOpenAPI serves the OpenAPI 3.1 document of every route
// (web/openapi.json); the tests check real responses against it.
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	serve(w, r, openAPIFile)
}

func mustEncodeFile(name string) *encoded {
	b, err := fs.ReadFile(web, name)
	if err != nil {
		panic(err) // the embed directive guarantees the file
	}
	return encodeStatic(name, b)
}

// encodeStatic pre-encodes an embedded file with a content ETag.
func encodeStatic(name string, b []byte) *encoded {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	sum := sha256.Sum256(b)
	tag := hex.EncodeToString(sum[:8])
	e := &encoded{status: http.StatusOK, ctype: ctype, identity: b, etag: `"` + tag + `"`, etagGz: `"` + tag + `-gz"`}
	if len(b) >= gzipMin {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b) // writes to a bytes.Buffer cannot fail
		_ = zw.Close()
		e.gz = buf.Bytes()
	}
	return e
}

// loadAssets encodes every file under web/static, by its path below it.
func loadAssets() map[string]*encoded {
	out := map[string]*encoded{}
	err := fs.WalkDir(web, "web/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "web/static/")] = encodeStatic(p, b)
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return out
}

// handlePage serves the dashboard. It is the same bytes for everyone: the
// page reads the host's data from the API (and /api/v1/stream) itself.
func handlePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	serve(w, r, pageFile)
}

// handleStatic serves the page's script, stylesheet and chart library.
func handleStatic(w http.ResponseWriter, r *http.Request) {
	e, ok := assets[mux.Vars(r)["file"]]
	if !ok {
		writeError(w, r, http.StatusNotFound, errNoAsset, "")
		return
	}
	serve(w, r, e)
}

var errNoAsset = httpError("no such file")

// renderLogin writes the login form, with a message when the last try
// failed.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var buf bytes.Buffer
	if err := loginTmpl.Execute(&buf, struct{ Error string }{msg}); err != nil {
		s.log.Error("portal: rendering the login form", "err", err)
		writeError(w, r, http.StatusInternalServerError, err, "")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
