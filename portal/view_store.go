package portal

import (
	"strconv"
	"time"

	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// The API's shapes of what the store holds: events, the store's health,
// series and points. The store's own types carry no JSON of the API (an
// Event's tags are its on-disk format), so a field renamed there cannot
// rename one here: the conversions below stop compiling instead.

// eventView is an event in /api/v1/events and /api/v1/status.
type eventView struct {
	Time    time.Time  `json:"time"`
	Probe   string     `json:"probe"`
	Kind    string     `json:"kind"`
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	Health  sdk.Health `json:"health"`
	Message string     `json:"message"`
}

// newEventViews converts events; none is [] rather than null.
func newEventViews(events []store.Event) []eventView {
	out := make([]eventView, len(events))
	for i, e := range events {
		out[i] = eventView{Time: e.Time, Probe: e.Probe, Kind: e.Kind, ID: e.ID, Name: e.Name,
			From: e.From, To: e.To, Health: e.Health, Message: e.Message}
	}
	return out
}

// storeHealthView is the store's health in /api/v1/status.
type storeHealthView struct {
	Writable     bool      `json:"writable"`
	Error        string    `json:"error,omitempty"`
	Since        time.Time `json:"since"`
	FreeBytes    uint64    `json:"free_bytes"`
	MinFreeBytes uint64    `json:"min_free_bytes"`
	Dropped      uint64    `json:"dropped"`
}

func newStoreHealthView(h store.Health) storeHealthView {
	return storeHealthView{Writable: h.Writable, Error: h.Error, Since: h.Since,
		FreeBytes: h.FreeBytes, MinFreeBytes: h.MinFreeBytes, Dropped: h.Dropped}
}

// seriesView is one series of /api/v1/query and the JSON export. Labels
// and points are never null.
type seriesView struct {
	Probe  string            `json:"probe"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Points pointsView        `json:"points"`
}

func newSeriesView(s store.Series) seriesView {
	v := seriesView{Probe: s.Probe, Name: s.Name, Labels: s.Labels, Points: pointsView(s.Points)}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	return v
}

// pointsView is a series' points as [[unix_ms, value], ...], the compact
// form charts take. It shares the store's slice: a query answer holds up
// to 500,000 points, not worth copying to rename.
type pointsView []store.Point

// MarshalJSON writes the points as an array of [t, v] pairs.
func (ps pointsView) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(ps)*24)
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, p.T, 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, p.V, 'g', -1, 64)
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// seriesInfoView names one stored series in /api/v1/series.
type seriesInfoView struct {
	Probe  string            `json:"probe"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// newSeriesInfoViews converts a page of series; labels are never null.
func newSeriesInfoViews(list []store.SeriesInfo) []seriesInfoView {
	out := make([]seriesInfoView, len(list))
	for i, s := range list {
		out[i] = seriesInfoView{Probe: s.Probe, Name: s.Name, Labels: s.Labels}
		if out[i].Labels == nil {
			out[i].Labels = map[string]string{}
		}
	}
	return out
}
