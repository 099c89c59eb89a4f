package store

import (
	"testing"
	"time"
)

func TestAlertWritesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	err = s.WriteAlerts(AlertWrite{
		Alerts:   map[string][]byte{`disk-full{mount="/"}`: []byte(`{"state":"firing"}`), "gone": []byte(`{}`)},
		Outbox:   map[string][]byte{"hook\x00" + "0000000000000001": []byte(`{"id":1}`)},
		Silences: map[string][]byte{"abc": []byte(`{"id":"abc"}`)},
		Events:   []Event{{Time: now, Probe: "alerts", Kind: "alert", ID: `disk-full{mount="/"}`, Name: "disk-full", From: "pending", To: "firing"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAlerts(AlertWrite{Alerts: map[string][]byte{"gone": nil}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.AlertData()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Alerts) != 1 || string(d.Alerts[`disk-full{mount="/"}`]) != `{"state":"firing"}` {
		t.Errorf("alerts %q", d.Alerts)
	}
	if string(d.Outbox["hook\x000000000000000001"]) != `{"id":1}` || string(d.Silences["abc"]) != `{"id":"abc"}` {
		t.Errorf("outbox %q, silences %q", d.Outbox, d.Silences)
	}
	evs, err := s.Events(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].To != "firing" || !evs[0].Time.Equal(now) {
		t.Errorf("events %+v", evs)
	}
}

func TestAlertWriteAfterClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.WriteAlerts(AlertWrite{Alerts: map[string][]byte{"a": []byte("{}")}}); err != ErrClosed {
		t.Fatalf("after close: %v", err)
	}
}
