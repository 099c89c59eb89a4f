package alert

import (
	"context"
	"encoding/json"
	"maps"
	"time"
)

// alertmanager posts to Alertmanager's v2 API (POST /api/v2/alerts): the
// fleet's path, where Alertmanager deduplicates, groups, silences and
// routes what many agents send.
type alertmanager struct {
	*httpPost
	common
	repeat time.Duration
}

// amAlert is postableAlert of Alertmanager's OpenAPI document.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// firingFor is how long Alertmanager keeps a firing alert without hearing
// of it again: three repeats, as Prometheus does with its resend delay,
// so an agent that dies has its alerts resolve on their own.
const firingFor = 3

func (a *alertmanager) send(ctx context.Context, m *Message) error {
	now := time.Now()
	out := make([]amAlert, 0, len(m.Alerts))
	for i := range m.Alerts {
		al := &m.Alerts[i]
		ann := maps.Clone(al.Annotations)
		if ann == nil {
			ann = map[string]string{}
		}
		ann["summary"] = al.Summary()
		p := amAlert{Labels: al.Labels, Annotations: ann, StartsAt: al.StartsAt()}
		if a.externalURL != "" {
			p.GeneratorURL = a.externalURL + "/api/v1/alerts"
		}
		if al.State == StateResolved && al.ResolvedAt != nil {
			p.EndsAt = *al.ResolvedAt
		} else {
			p.EndsAt = maxTime(now, m.Created).Add(firingFor * a.repeat)
		}
		if m.Test {
			p.Labels = maps.Clone(p.Labels)
			p.Labels["test"] = "true"
		}
		out = append(out, p)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return a.post(ctx, "application/json", b, nil)
}
