package portal

import (
	"sort"

	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
)

// /api/projects is the original product's projects page as JSON: the git
// repositories the projects probe (examples/projects) reports. The probe is
// found by what it reports (entities of kind "repository"), else by its
// name, so an instance under any name serves.
const (
	projectsProbe = "projects"
	projectKind   = "repository"
)

type projectsBody struct {
	derived                // network.go; Message is the probe's own when Available
	Projects []projectView `json:"projects"`
}

// projectView is one repository: the entity the probe reported.
type projectView struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	State  string         `json:"state"`
	Health string         `json:"health"`
	Attrs  map[string]any `json:"attrs"`
}

func (sn *snapshot) projects() projectsBody {
	b := projectsBody{Projects: []projectView{}}
	h, found := sn.projectsProbe()
	var rec *store.Record
	if b.derived, rec = sn.derive(h, found, "no projects probe is configured: drop examples/projects into probes.d (see examples/projects/README.md)"); rec == nil {
		return b
	}
	b.Message = rec.Report.Message
	for _, e := range rec.Report.Entities {
		if e.Kind != projectKind {
			continue
		}
		attrs := e.Attrs
		if attrs == nil {
			attrs = map[string]any{}
		}
		b.Projects = append(b.Projects, projectView{ID: e.ID, Name: e.Name, State: e.State, Health: string(e.Health), Attrs: attrs})
	}
	sort.Slice(b.Projects, func(i, j int) bool { return b.Projects[i].ID < b.Projects[j].ID })
	return b
}

// projectsProbe is the first probe (by name) whose fresh report holds
// repositories, else the probe named "projects".
func (sn *snapshot) projectsProbe() (scheduler.Health, bool) {
	var named *scheduler.Health
	for i := range sn.health {
		h := &sn.health[i]
		if rec, ok := sn.latest[h.Name]; ok {
			for _, e := range rec.Report.Entities {
				if e.Kind == projectKind {
					return *h, true
				}
			}
		}
		if h.Name == projectsProbe && named == nil {
			named = h
		}
	}
	if named != nil {
		return *named, true
	}
	return scheduler.Health{}, false
}
