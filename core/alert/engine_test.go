package alert

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// memStore is the engine's Store in memory, shared between two engines to
// play a restart.
type memStore struct {
	mu     sync.Mutex
	data   store.AlertData
	events []store.Event
	fail   error
}

func newMemStore() *memStore {
	return &memStore{data: store.AlertData{Alerts: map[string][]byte{}, Outbox: map[string][]byte{}, Silences: map[string][]byte{}}}
}

func (m *memStore) AlertData() (store.AlertData, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return store.AlertData{Alerts: maps.Clone(m.data.Alerts), Outbox: maps.Clone(m.data.Outbox), Silences: maps.Clone(m.data.Silences)}, nil
}

func (m *memStore) WriteAlerts(w store.AlertWrite) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, p := range []struct{ into, from map[string][]byte }{{m.data.Alerts, w.Alerts}, {m.data.Outbox, w.Outbox}, {m.data.Silences, w.Silences}} {
		for k, v := range p.from {
			if v == nil {
				delete(p.into, k)
			} else {
				p.into[k] = v
			}
		}
	}
	m.events = append(m.events, w.Events...)
	return nil
}

func (m *memStore) queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data.Outbox)
}

func (m *memStore) transitions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Name+":"+e.From+">"+e.To)
	}
	return out
}

// fakeSender records what it is sent, at what (fake) time, and fails
// while fail is set.
type fakeSender struct {
	mu   sync.Mutex
	got  []sent
	fail error
	hang bool // answer nothing: block until the receiver's timeout
}

type sent struct {
	at     time.Time
	status string
	alerts []string // rule:state
}

func (f *fakeSender) send(ctx context.Context, m *Message) error {
	f.mu.Lock()
	if f.hang {
		f.got = append(f.got, sent{at: time.Now(), status: "failed"})
		f.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer f.mu.Unlock()
	if f.fail != nil {
		f.got = append(f.got, sent{at: time.Now(), status: "failed"})
		return f.fail
	}
	s := sent{at: time.Now(), status: m.Status()}
	for _, a := range m.Alerts {
		s.alerts = append(s.alerts, a.Rule+":"+a.State)
	}
	f.got = append(f.got, s)
	return nil
}

func (f *fakeSender) messages() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sent
	for _, s := range f.got {
		if s.status != "failed" {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeSender) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, s := range f.got {
		out = append(out, s.at)
	}
	return out
}

func (f *fakeSender) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// world is what the probes report, changed by a test as it goes.
type world struct {
	mu     sync.Mutex
	probes map[string]*Probe
}

func newWorld() *world { return &world{probes: map[string]*Probe{}} }

func (w *world) set(probe, metric string, labels map[string]string, v float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.probes[probe]
	if p == nil {
		p = &Probe{Name: probe, State: "ok", Report: &sdk.Report{}}
		w.probes[probe] = p
	}
	for i, m := range p.Report.Metrics {
		if m.Name == metric && maps.Equal(m.Labels, labels) {
			p.Report.Metrics[i].Value = v
			return
		}
	}
	p.Report.Metrics = append(p.Report.Metrics, sdk.Metric{Name: metric, Labels: labels, Value: v})
}

func (w *world) read() []Probe {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Probe
	for _, p := range w.probes {
		c := *p
		if p.Report != nil {
			r := *p.Report
			r.Metrics = append([]sdk.Metric(nil), p.Report.Metrics...)
			r.Entities = append([]sdk.Entity(nil), p.Report.Entities...)
			c.Report = &r
		}
		out = append(out, c)
	}
	return out
}

// harness is an engine on a fake clock with fake senders for every
// receiver.
type harness struct {
	t      *testing.T
	e      *Engine
	w      *world
	st     *memStore
	send   map[string]*fakeSender
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T, toml string, w *world, st *memStore, failing ...string) *harness {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, Options{Probes: w.read, Store: st, Hostname: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: e, w: w, st: st, send: map[string]*fakeSender{}, start: time.Now(), done: make(chan struct{})}
	fake := func(name string) sender {
		if f := h.send[name]; f != nil {
			return f
		}
		f := &fakeSender{}
		for _, n := range failing {
			if n == name {
				f.fail = errors.New("connection refused")
			}
		}
		h.send[name] = f
		return f
	}
	for _, r := range e.receivers {
		r.sender = fake(r.name)
	}
	e.senderFor = fake
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		e.Run(ctx)
	}()
	synctest.Wait()
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// at sleeps until d after the harness started, then lets every goroutine
// settle.
func (h *harness) at(d time.Duration) {
	h.t.Helper()
	if wait := time.Until(h.start.Add(d)); wait > 0 {
		time.Sleep(wait) // the harness runs in a synctest bubble: this is the fake clock
	}
	synctest.Wait()
}

func (h *harness) alert(rule string) *Alert {
	for _, a := range h.e.Status().Alerts {
		if a.Rule == rule {
			return &a
		}
	}
	return nil
}

func (h *harness) wantSent(receiver string, want ...string) {
	h.t.Helper()
	var got []string
	for _, s := range h.send[receiver].messages() {
		got = append(got, s.at.Sub(h.start).String()+" "+strings.Join(s.alerts, ","))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("%s got:\n%s\nwant:\n%s", receiver, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// hookAtOnce is a webhook receiver with no group wait.
const hookAtOnce = `
[alerting]
interval = "1s"
[[notify]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "0s"
`

const hookOnly = `
[alerting]
interval = "1s"
[[notify]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "10s"
repeat_interval = "1h"
`

func TestForAndHysteresis(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("system", "system.disk.used_percent", map[string]string{"mount": "/"}, 50)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "disk-full"
series = 'system.disk.used_percent{mount="/"}'
above = 90
clear = 85
for = "5m"
severity = "critical"
`, w, newMemStore())
		defer h.stop()

		h.at(10 * time.Second)
		w.set("system", "system.disk.used_percent", map[string]string{"mount": "/"}, 95)
		h.e.Kick()
		synctest.Wait()
		a := h.alert("disk-full")
		if a == nil || a.State != StatePending || !a.ActiveAt.Equal(h.start.Add(10*time.Second)) {
			t.Fatalf("after crossing 90: %+v", a)
		}
		h.at(10*time.Second + 5*time.Minute - time.Millisecond)
		if a := h.alert("disk-full"); a.State != StatePending {
			t.Fatalf("fired before its 5m: %s", a.State)
		}
		h.at(10*time.Second + 5*time.Minute)
		a = h.alert("disk-full")
		if a.State != StateFiring || !a.FiredAt.Equal(h.start.Add(10*time.Second+5*time.Minute)) {
			t.Fatalf("at 5m: %s fired %v", a.State, a.FiredAt)
		}
		// Under 90 but over clear: still firing.
		w.set("system", "system.disk.used_percent", map[string]string{"mount": "/"}, 88)
		h.at(6 * time.Minute)
		if a := h.alert("disk-full"); a.State != StateFiring {
			t.Fatalf("at 88 (clear 85): %s", a.State)
		}
		w.set("system", "system.disk.used_percent", map[string]string{"mount": "/"}, 84)
		h.e.Kick()
		synctest.Wait()
		a = h.alert("disk-full")
		if a.State != StateResolved || !a.ResolvedAt.Equal(h.start.Add(6*time.Minute)) {
			t.Fatalf("at 84: %s resolved %v", a.State, a.ResolvedAt)
		}
		h.at(7 * time.Minute)
		h.wantSent("hook", "5m20s disk-full:firing", "6m10s disk-full:resolved")
		if got := strings.Join(h.st.transitions(), " "); got != "disk-full:>pending disk-full:pending>firing disk-full:firing>resolved" {
			t.Errorf("events: %s", got)
		}
	})
}

func TestPendingThatClearsNeverFires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("tmux", "tmux.sessions", nil, 2)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "too-many-sessions"
series = "tmux.sessions"
above = 1.5
for = "2s"
`, w, newMemStore())
		defer h.stop()
		if a := h.alert("too-many-sessions"); a == nil || a.State != StatePending {
			t.Fatalf("at start: %+v", a)
		}
		h.at(time.Second)
		w.set("tmux", "tmux.sessions", nil, 1)
		h.e.Kick()
		synctest.Wait()
		if a := h.alert("too-many-sessions"); a != nil {
			t.Fatalf("pending alert whose condition cleared is still listed: %+v", a)
		}
		h.at(time.Minute)
		h.wantSent("hook")
		if got := strings.Join(h.st.transitions(), " "); got != "too-many-sessions:>pending too-many-sessions:pending>inactive" {
			t.Errorf("events: %s", got)
		}
	})
}

func TestBurstIsOneMessageThenRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		h := newHarness(t, hookOnly+`
[[alert]]
name = "a"
series = "x.a"
above = 0
[[alert]]
name = "b"
series = "x.b"
above = 0
[[alert]]
name = "c"
series = "x.c"
above = 0
`, w, newMemStore())
		defer h.stop()
		for i, name := range []string{"a", "b", "c"} {
			h.at(time.Duration(3*i) * time.Second) // 0s, 3s, 6s: within the 10s group wait
			w.set("p", "x."+name, nil, 1)
			h.e.Kick()
			synctest.Wait()
		}
		h.at(9*time.Second + 999*time.Millisecond)
		h.wantSent("hook")
		h.at(10 * time.Second)
		h.wantSent("hook", "10s a:firing,b:firing,c:firing")
		// Still firing an hour after they were sent: reminded, again as one.
		// Due 1h after they were sent, and a group waits 10s.
		h.at(time.Hour + 20*time.Second - time.Millisecond)
		h.wantSent("hook", "10s a:firing,b:firing,c:firing")
		h.at(time.Hour + 20*time.Second)
		h.wantSent("hook", "10s a:firing,b:firing,c:firing", "1h0m20s a:firing,b:firing,c:firing")
	})
}

func TestRateLimitHoldsAndMerges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		h := newHarness(t, `
[alerting]
interval = "1s"
[[notify]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:9/hook"
group_wait = "1s"
rate_limit = "1/1m"
[[alert]]
name = "a"
series = "x.a"
above = 0
[[alert]]
name = "b"
series = "x.b"
above = 0
[[alert]]
name = "c"
series = "x.c"
above = 0
`, w, newMemStore())
		defer h.stop()
		w.set("p", "x.a", nil, 1)
		h.e.Kick()
		h.at(5 * time.Second)
		w.set("p", "x.b", nil, 1)
		h.e.Kick()
		h.at(20 * time.Second)
		w.set("p", "x.c", nil, 1)
		h.e.Kick()
		h.at(2 * time.Minute)
		// a at 1s; b and c wait for the window to pass (61s) and go together.
		h.wantSent("hook", "1s a:firing", "1m1s b:firing,c:firing")
	})
}

func TestOutboxBackoffAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		h := newHarness(t, hookAtOnce+`
expire = "1m"
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore(), "hook")
		defer h.stop()
		h.at(2 * time.Minute)
		var got []string
		for _, at := range h.send["hook"].attempts() {
			got = append(got, at.Sub(h.start).String())
		}
		// 1s, 2s, 4s, 8s, 16s apart, then 32s would pass the 1m expiry.
		if want := "0s 1s 3s 7s 15s 31s"; strings.Join(got, " ") != want {
			t.Fatalf("attempts at %v, want %s", got, want)
		}
		st := h.e.Status().Receivers[0]
		if st.Expired != 1 || st.Queued != 0 || st.Sent != 0 || st.Failed != 6 || st.LastError != "connection refused" {
			t.Fatalf("receiver status %+v", st)
		}
		if n := h.st.queued(); n != 0 {
			t.Fatalf("%d expired notifications still in the store", n)
		}
	})
}

func TestReceiverDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		h := newHarness(t, hookAtOnce+`
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore(), "hook")
		defer h.stop()
		h.at(10 * time.Minute) // down for ten minutes: retried every minute at most
		h.send["hook"].setFail(nil)
		h.at(11 * time.Minute)
		msgs := h.send["hook"].messages()
		if len(msgs) != 1 || msgs[0].at.Sub(h.start) > 10*time.Minute+maxBackoff {
			t.Fatalf("after coming back: %+v", msgs)
		}
		if q := h.e.Status().Receivers[0].Queued; q != 0 {
			t.Fatalf("%d still queued", q)
		}
	})
}

func TestRestartNeitherLosesNorRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		st := newMemStore()
		conf := hookOnly + `
[[alert]]
name = "a"
series = "x.a"
above = 0
`
		h := newHarness(t, conf, w, st)
		h.at(time.Minute)
		h.wantSent("hook", "10s a:firing")
		h.stop()

		// The agent comes back 5 minutes later: the alert is firing at
		// once, with its original times, and nothing is sent again before
		// the repeat interval (1h after the first message).
		time.Sleep(5 * time.Minute)
		h2 := newHarness(t, conf, w, st)
		defer h2.stop()
		a := h2.alert("a")
		if a == nil || a.State != StateFiring || !a.FiredAt.Equal(h.start) {
			t.Fatalf("after restart: %+v", a)
		}
		h2.at(time.Hour - 6*time.Minute + 9*time.Second)
		h2.wantSent("hook")
		h2.at(time.Hour - 6*time.Minute + 10*time.Second + 10*time.Second)
		if n := len(h2.send["hook"].messages()); n != 1 {
			t.Fatalf("%d reminders at the repeat interval, want 1", n)
		}
	})
}

func TestQueuedSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		st := newMemStore()
		conf := hookOnly + `
[[alert]]
name = "a"
series = "x.a"
above = 0
`
		h := newHarness(t, conf, w, st, "hook")
		h.at(time.Minute)
		h.stop()
		if n := st.queued(); n != 1 {
			t.Fatalf("outbox in the store: %d entries, want 1", n)
		}
		h2 := newHarness(t, conf, w, st)
		defer h2.stop()
		h2.wantSent("hook", "0s a:firing")
	})
}

func TestNoData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("system", "system.cpu.percent", nil, 3)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "typo"
series = "system.cpu.prcent"
above = 90
[[alert]]
name = "cpu"
series = "system.cpu.percent"
above = 90
[[alert]]
name = "no-systemd"
entity = {probe = "systemd", state = ["failed"]}
`, w, newMemStore())
		defer h.stop()
		st := h.e.Status()
		states := map[string]string{}
		for _, r := range st.Rules {
			states[r.Name] = r.State
		}
		if states["typo"] != RuleNoData || states["cpu"] != RuleInactive || states["no-systemd"] != RuleNoData || st.Summary.NoData != 2 {
			t.Fatalf("rule states %v, summary %+v", states, st.Summary)
		}
	})
}

func TestSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", map[string]string{"mount": "/"}, 1)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore())
		defer h.stop()
		s, err := h.e.AddSilence(Silence{Matchers: map[string]string{"alertname": "a", "mount": "/*"}, EndsAt: time.Now().Add(30 * time.Minute), Comment: "disk swap"})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.at(20 * time.Minute)
		h.wantSent("hook")
		if st := h.e.Status(); st.Summary.Silenced != 1 || st.Summary.Firing != 0 || len(st.Alerts[0].SilencedBy) != 1 {
			t.Fatalf("while silenced: %+v", st.Summary)
		}
		// The silence ends at 30m: the alert, still firing, is sent after
		// the group wait.
		h.at(31 * time.Minute)
		h.wantSent("hook", "30m10s a:firing")
		if err := h.e.DeleteSilence(s.ID); !errors.Is(err, ErrNoSilence) {
			t.Fatalf("deleting an expired silence: %v", err)
		}
		for _, bad := range []Silence{
			{EndsAt: time.Now().Add(time.Hour)},
			{Matchers: map[string]string{"a": "["}, EndsAt: time.Now().Add(time.Hour)},
			{Matchers: map[string]string{"a b": "x"}, EndsAt: time.Now().Add(time.Hour)},
			{Matchers: map[string]string{"a": "x"}, EndsAt: time.Now().Add(-time.Hour)},
			{Matchers: map[string]string{"a": "x"}, EndsAt: time.Now().Add(2 * MaxSilence)},
		} {
			if _, err := h.e.AddSilence(bad); err == nil {
				t.Errorf("silence %+v accepted", bad)
			}
		}
	})
}

func TestEntityAndProbeRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.probes["systemd"] = &Probe{Name: "systemd", State: "ok", Report: &sdk.Report{Entities: []sdk.Entity{
			{Kind: "unit", ID: "nginx.service", Name: "nginx.service", State: "failed", Health: sdk.StatusCrit},
			{Kind: "unit", ID: "ssh.service", Name: "ssh.service", State: "active", Health: sdk.StatusOK},
		}}}
		w.probes["docker"] = &Probe{Name: "docker", State: "failing", Failures: 2, Error: "socket: permission denied"}
		h := newHarness(t, hookOnly+`
[[alert]]
name = "unit-failed"
entity = {kind = "unit", state = ["failed"]}
severity = "critical"
[[alert]]
name = "probe-failing"
probe = {state = ["failing", "timeout"], runs = 3}
`, w, newMemStore())
		defer h.stop()
		st := h.e.Status()
		if len(st.Alerts) != 1 || st.Alerts[0].Labels["id"] != "nginx.service" || st.Alerts[0].State != StateFiring ||
			st.Alerts[0].Annotations["summary"] != "unit nginx.service is failed (health crit)" {
			t.Fatalf("alerts %+v", st.Alerts)
		}
		w.mu.Lock()
		w.probes["docker"].Failures = 3
		w.mu.Unlock()
		h.e.Kick()
		synctest.Wait()
		a := h.alert("probe-failing")
		if a == nil || a.Labels["probe"] != "docker" || a.Annotations["summary"] != "probe docker is failing (3 failed runs in a row): socket: permission denied" {
			t.Fatalf("probe alert %+v", a)
		}
	})
}

func TestSilentProbeKeepsItsAlerts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("system", "x.a", nil, 1)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore())
		defer h.stop()
		if a := h.alert("a"); a == nil || a.State != StateFiring {
			t.Fatalf("%+v", a)
		}
		// The probe fails (no fresh report): no data, which is not "ok".
		w.mu.Lock()
		w.probes["system"].Report, w.probes["system"].State = nil, "failing"
		w.mu.Unlock()
		h.at(time.Minute)
		if a := h.alert("a"); a.State != StateFiring {
			t.Fatalf("a failing probe resolved its alert: %s", a.State)
		}
		// It reports again without the series: resolved.
		w.mu.Lock()
		w.probes["system"].Report, w.probes["system"].State = &sdk.Report{}, "ok"
		w.mu.Unlock()
		h.at(2 * time.Minute)
		if a := h.alert("a"); a.State != StateResolved {
			t.Fatalf("series gone from a fresh report: %s", a.State)
		}
		// A probe removed from the config resolves what it kept firing.
		w.set("system", "x.a", nil, 1)
		h.at(3 * time.Minute)
		if a := h.alert("a"); a.State != StateFiring {
			t.Fatalf("reported again: %+v", a)
		}
		w.mu.Lock()
		delete(w.probes, "system")
		w.mu.Unlock()
		h.e.Kick()
		synctest.Wait()
		if a := h.alert("a"); a.State != StateResolved || !a.ResolvedAt.Equal(h.start.Add(3*time.Minute)) {
			t.Fatalf("probe removed: %+v", a)
		}
	})
}

func TestOutboxIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		h := newHarness(t, hookAtOnce+`
repeat_interval = "1s"
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore(), "hook")
		defer h.stop()
		h.at(1100 * time.Second) // a reminder every second to a dead receiver
		st := h.e.Status().Receivers[0]
		if st.Queued != maxQueued || st.Expired < 100 {
			t.Fatalf("receiver %+v, want %d queued and the rest dropped", st, maxQueued)
		}
		if n := h.st.queued(); n != maxQueued {
			t.Fatalf("%d in the store's outbox, want %d", n, maxQueued)
		}
	})
}

func TestRemovedReceiverForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		st := newMemStore()
		rule := `
[[alert]]
name = "a"
series = "x.a"
above = 0
`
		h := newHarness(t, hookAtOnce+rule, w, st)
		h.at(time.Second)
		h.wantSent("hook", "0s a:firing")
		h.stop()
		// Restarted without the receiver; the alert resolves and, told
		// to nobody, is forgotten after the history.
		h2 := newHarness(t, "[alerting]\nhistory = \"1h\"\n"+rule, w, st)
		defer h2.stop()
		w.set("p", "x.a", nil, -1)
		h2.e.Kick()
		synctest.Wait()
		if a := h2.alert("a"); a == nil || a.State != StateResolved {
			t.Fatalf("%+v", a)
		}
		h2.at(time.Hour + time.Second)
		if a := h2.alert("a"); a != nil {
			t.Fatalf("still listed an hour after it resolved: %+v", a)
		}
	})
}

func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("p", "x.a", nil, 1)
		w.set("p", "x.b", nil, 1)
		h := newHarness(t, hookAtOnce+`
[[alert]]
name = "a"
series = "x.a"
above = 0
`, w, newMemStore())
		defer h.stop()
		h.at(time.Second)
		h.wantSent("hook", "0s a:firing")
		cfg, err := config.Parse("test.toml", []byte(hookAtOnce+`
[[notify]]
name = "hook2"
type = "webhook"
url = "http://127.0.0.1:9/other"
group_wait = "0s"
[[alert]]
name = "b"
series = "x.b"
above = 0
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.e.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		h.at(2 * time.Second)
		// a's rule is gone: resolved, told to hook; b fires to both.
		h.wantSent("hook", "0s a:firing", "1s a:resolved,b:firing")
		h.wantSent("hook2", "1s b:firing")
		if rules := h.e.Status().Rules; len(rules) != 1 || rules[0].Name != "b" || strings.Join(rules[0].Receivers, ",") != "hook,hook2" {
			t.Fatalf("rules after reload: %+v", rules)
		}
		// A reload that cannot read a secret changes nothing.
		bad, err := config.Parse("test.toml", []byte(hookAtOnce+"secret_file = \"/nonexistent/secret\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.e.Reload(bad); err == nil || !strings.Contains(err.Error(), "notify.secret_file") {
			t.Fatalf("reload with a missing secret file: %v", err)
		}
		if rules := h.e.Status().Rules; len(rules) != 1 || rules[0].Name != "b" {
			t.Fatalf("a refused reload changed the rules: %+v", rules)
		}
	})
}

func TestHangingReceiverDelaysNobody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		h := newHarness(t, hookAtOnce+`timeout = "30s"
[[notify]]
name = "fast"
type = "webhook"
url = "http://127.0.0.1:9/fast"
group_wait = "0s"
[[alert]]
name = "a"
series = "x.a"
above = 0
[[alert]]
name = "b"
series = "x.b"
above = 0
`, w, newMemStore())
		defer h.stop()
		h.send["hook"].mu.Lock()
		h.send["hook"].hang = true
		h.send["hook"].mu.Unlock()
		w.set("p", "x.a", nil, 1)
		h.e.Kick()
		h.at(time.Second)
		w.set("p", "x.b", nil, 1)
		h.e.Kick()
		synctest.Wait()
		// hook hangs on its first message for 30s; fast gets both at once,
		// and the engine went on evaluating meanwhile.
		h.wantSent("fast", "0s a:firing", "1s b:firing")
		if a := h.alert("b"); a == nil || a.State != StateFiring {
			t.Fatalf("b while hook hangs: %+v", a)
		}
		var got []string
		for _, at := range h.send["hook"].attempts() {
			got = append(got, at.Sub(h.start).String())
		}
		if strings.Join(got, " ") != "0s" {
			t.Fatalf("hook attempts %v", got)
		}
		h.at(31 * time.Second) // cut at 30s, retried 1s later: still hanging
		if st := h.e.Status().Receivers[0]; st.Failed != 1 || !strings.Contains(st.LastError, "deadline") || st.Queued != 2 {
			t.Fatalf("hook after its timeout: %+v", st)
		}
	})
}

func TestAnnotationTemplates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		w.set("system", "system.disk.used_percent", map[string]string{"mount": "/data"}, 93.14)
		h := newHarness(t, hookOnly+`
[[alert]]
name = "disk-full"
series = "system.disk.used_percent"
above = 90
[alert.annotations]
summary = 'disk {{.Labels.mount}} at {{printf "%.1f" .Value}}% (over {{.Threshold}}) on {{.Labels.host}}'
runbook = "https://wiki.example/{{.Rule}}{{.Labels.nope}}"
`, w, newMemStore())
		defer h.stop()
		a := h.alert("disk-full")
		if a == nil || a.Annotations["summary"] != "disk /data at 93.1% (over 90) on web-1" || a.Annotations["runbook"] != "https://wiki.example/disk-full" {
			t.Fatalf("%+v", a)
		}
		if got := h.st.transitions(); len(got) == 0 {
			t.Fatal("no events")
		}
	})
}

// TestRoutingBySeverityAndName: a rule that names receivers goes to those
// alone; one that names none goes to every receiver whose severities and
// alert globs admit it; a receiver with neither takes every such rule.
func TestRoutingBySeverityAndName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld()
		receiver := func(name, extra string) string {
			return "[[notify]]\nname = \"" + name + "\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/" + name + "\"\ngroup_wait = \"0s\"\n" + extra
		}
		rule := func(name, severity, extra string) string {
			return "[[alert]]\nname = \"" + name + "\"\nseries = \"x." + name + "\"\nabove = 0\nseverity = \"" + severity + "\"\n" + extra
		}
		h := newHarness(t, "[alerting]\ninterval = \"1s\"\n"+
			receiver("pager", "severities = [\"critical\"]\n")+
			receiver("disks", "alerts = [\"disk-*\"]\n")+
			receiver("night", "severities = [\"critical\"]\nalerts = [\"disk-*\"]\n")+
			receiver("all", "")+
			rule("disk-full", "critical", "")+
			rule("disk-slow", "warning", "")+
			rule("load-high", "critical", "")+
			rule("cpu-high", "critical", "notify = [\"disks\"]\n")+
			rule("info-only", "info", ""), w, newMemStore())
		defer h.stop()
		for _, name := range []string{"disk-full", "disk-slow", "load-high", "cpu-high", "info-only"} {
			w.set("p", "x."+name, nil, 1)
		}
		h.e.Kick()
		h.at(2 * time.Second)
		got := func(receiver string) []string {
			var rules []string
			for _, s := range h.send[receiver].messages() {
				for _, a := range s.alerts {
					rules = append(rules, strings.TrimSuffix(a, ":firing"))
				}
			}
			slices.Sort(rules)
			return rules
		}
		for receiver, want := range map[string][]string{
			"pager": {"disk-full", "load-high"},
			"disks": {"cpu-high", "disk-full", "disk-slow"},
			"night": {"disk-full"},
			"all":   {"disk-full", "disk-slow", "info-only", "load-high"},
		} {
			if g := got(receiver); !slices.Equal(g, want) {
				t.Errorf("%s was sent %v, want %v", receiver, g, want)
			}
		}
	})
}
