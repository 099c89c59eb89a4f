package portal

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The history routes (query, series, export) read the store per request.
// Each is bounded on its own (a page of series, a budget of points, a
// series at a time); maxHeavy bounds how many run at once, so their sum is
// bounded too: four clients asking at once must not cost four times what
// one may, without limit.
const (
	maxHeavy  = 4
	heavyWait = 5 * time.Second // how long a request waits for a slot before a 503
)

// heavy admits h when fewer than maxHeavy history requests are in flight,
// waiting up to heavyWait for one to finish; otherwise it answers 503 with
// Retry-After.
func (s *Server) heavy(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(heavyWait)
		defer t.Stop()
		select {
		case s.heavySlots <- struct{}{}:
			defer func() { <-s.heavySlots }()
			h(w, r)
		case <-t.C:
			w.Header().Set("Retry-After", strconv.Itoa(int(heavyWait/time.Second)))
			writeError(w, r, http.StatusServiceUnavailable,
				fmt.Errorf("%d history requests (query, series, export) are in flight already: retry in a few seconds", maxHeavy), "")
		case <-r.Context().Done():
		}
	}
}
