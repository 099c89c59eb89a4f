package portal

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// servePProf is Go's profiler under /debug/pprof/, served only when
// [portal] pprof is on and a token is set (it shows the agent's memory and
// a CPU profile slows it down). Its pages set their own content types.
func servePProf(w http.ResponseWriter, r *http.Request) {
	// pprof's pages are HTML and text meant for a person or `go tool
	// pprof`; the API's CSP would not stop anything here, but keep it.
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}
