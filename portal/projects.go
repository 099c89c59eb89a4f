package portal

import (
	"sort"
	"time"

	"github.com/barbossa-agent/barbossa/core/scheduler"
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
	// Available is false when no projects probe is configured or it has no
	// fresh report; Message says which and what to do.
	Available bool          `json:"available"`
	Message   string        `json:"message,omitempty"`
	Probe     string        `json:"probe,omitempty"`
	State     string        `json:"state,omitempty"`
	Time      *time.Time    `json:"time"`
	Projects  []projectView `json:"projects"`
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
	h, ok := sn.projectsProbe()
	if !ok {
		b.Message = "no projects probe is configured: drop examples/projects into probes.d (see examples/projects/README.md)"
		return b
	}
	b.Probe, b.State = h.Name, h.State
	rec, ok := sn.latest[h.Name]
	if !ok {
		b.Message = "no fresh report from probe " + h.Name
		return b
	}
	b.Available = true
	t := rec.Time
	b.Time = &t
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
