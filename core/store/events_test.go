package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

func ent(id, state string, h sdk.Health) sdk.Entity {
	return sdk.Entity{Kind: "service", ID: id, Name: id + "-name", State: state, Health: h}
}

func TestDiffEntities(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	prev := entityStates{}
	for _, e := range []sdk.Entity{ent("a", "running", sdk.StatusOK), ent("b", "running", sdk.StatusOK)} {
		prev[entityRef(e.Kind, e.ID)] = entityState{Kind: e.Kind, ID: e.ID, Name: e.Name, State: e.State, Health: e.Health}
	}
	type ft struct{ id, from, to string }
	tests := []struct {
		name    string
		prev    entityStates
		cur     []sdk.Entity
		want    []ft
		changed bool
	}{
		{"first report is a baseline", nil, []sdk.Entity{ent("a", "running", sdk.StatusOK)}, nil, true},
		{"no change", prev, []sdk.Entity{ent("b", "running", sdk.StatusOK), ent("a", "running", sdk.StatusOK)}, nil, false},
		{"state change", prev, []sdk.Entity{ent("a", "failed", sdk.StatusCrit), ent("b", "running", sdk.StatusOK)}, []ft{{"a", "running", "failed"}}, true},
		{"health only", prev, []sdk.Entity{ent("a", "running", sdk.StatusWarn), ent("b", "running", sdk.StatusOK)}, []ft{{"a", "running", "running"}}, true},
		{"appear and disappear", prev, []sdk.Entity{ent("a", "running", sdk.StatusOK), ent("c", "exited", sdk.StatusWarn)}, []ft{{"b", "running", StateGone}, {"c", "", "exited"}}, true},
		{"all gone", prev, nil, []ft{{"a", "running", StateGone}, {"b", "running", StateGone}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, next, changed := diffEntities("p", at, tt.prev, tt.cur)
			var got []ft
			for _, e := range evs {
				got = append(got, ft{e.ID, e.From, e.To})
				if e.Probe != "p" || !e.Time.Equal(at) || e.Kind != "service" || e.Message == "" {
					t.Errorf("event %+v: missing probe, time, kind or message", e)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			if len(next) != len(tt.cur) {
				t.Errorf("next has %d entities, want %d", len(next), len(tt.cur))
			}
		})
	}
	evs, _, _ := diffEntities("p", at, prev, []sdk.Entity{ent("a", "running", sdk.StatusCrit), ent("b", "running", sdk.StatusOK)})
	if evs[0].Health != sdk.StatusCrit || evs[0].Message != "service a-name: health ok -> crit" {
		t.Errorf("health event = %+v", evs[0])
	}
}

func TestEventsOnTransitions(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	put := func(i int, errText string, es ...sdk.Entity) {
		r := record("units", t0.Add(time.Duration(i)*time.Minute))
		r.Report.Entities = es
		r.Error = errText
		s.Put(r)
	}
	put(0, "", ent("a", "running", sdk.StatusOK), ent("b", "running", sdk.StatusOK))
	put(1, "", ent("a", "failed", sdk.StatusCrit), ent("b", "running", sdk.StatusOK), ent("c", "running", sdk.StatusOK))
	put(2, "", ent("a", "failed", sdk.StatusCrit), ent("b", "running", sdk.StatusOK), ent("c", "running", sdk.StatusOK))
	put(3, "dbus: connection refused") // a failed run: no entities, but nothing is gone
	put(4, "", ent("a", "failed", sdk.StatusCrit), ent("c", "running", sdk.StatusOK))
	s.AddEvent(Event{Time: t0.Add(5 * time.Minute), Probe: "units", Kind: "action", ID: "a", Message: "restart requested"})
	mustFlush(t, s)

	type summary struct {
		minute   int
		id       string
		from, to string
	}
	sum := func(evs []Event) []summary {
		var out []summary
		for _, e := range evs {
			out = append(out, summary{int(e.Time.Sub(t0) / time.Minute), e.ID, e.From, e.To})
		}
		return out
	}
	all, err := s.Events(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{ // newest first
		{5, "a", "", ""},
		{4, "b", "running", StateGone},
		{1, "c", "", "running"},
		{1, "a", "running", "failed"},
	}
	if got := sum(all); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n%v\nwant\n%v", got, want)
	}
	if all[3].Health != sdk.StatusCrit || all[3].Name != "a-name" {
		t.Errorf("transition event = %+v", all[3])
	}

	if got, _ := s.Events(time.Time{}, 2); !reflect.DeepEqual(sum(got), want[:2]) {
		t.Errorf("limit 2 = %v", sum(got))
	}
	if got, _ := s.Events(t0.Add(4*time.Minute), 0); !reflect.DeepEqual(sum(got), want[:2]) {
		t.Errorf("since minute 4 = %v", sum(got))
	}
	if got, _ := s.Events(t0.Add(6*time.Minute), 0); len(got) != 0 {
		t.Errorf("since the future = %v", sum(got))
	}

	// After a restart the previous states are known: an unchanged report is
	// silent, a change is one event, nothing "appears" again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	put(6, "", ent("a", "failed", sdk.StatusCrit), ent("c", "running", sdk.StatusOK))
	put(7, "", ent("a", "running", sdk.StatusOK), ent("c", "running", sdk.StatusOK))
	mustFlush(t, s)
	got, err := s.Events(t0.Add(6*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []summary{{7, "a", "failed", "running"}}; !reflect.DeepEqual(sum(got), want) {
		t.Errorf("after restart: %v, want %v", sum(got), want)
	}
}
