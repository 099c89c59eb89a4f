package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/sdk"
)

// TestStalenessWatcherSleepsUntilFlips checks that the change counter moves
// exactly when a probe's report stops being fresh and, later, when its
// health turns stale: the watcher wakes for each, at that instant.
func TestStalenessWatcherSleepsUntilFlips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a := &Agent{
			log:       quiet,
			sched:     scheduler.New(scheduler.Options{Logger: quiet}),
			store:     st,
			probes:    map[string]config.Probe{},
			staleWake: make(chan struct{}, 1),
		}
		// Health turns stale just after 30 s without a success (3 intervals);
		// the report is served as fresh for 20 s (stale_after).
		p := config.Probe{Name: "p", Interval: config.Duration{Duration: 10 * time.Second}, StaleAfter: config.Duration{Duration: 20 * time.Second}}
		if err := a.sched.Add(scheduler.Job{Name: "p", Interval: time.Hour, StaleAfter: 30 * time.Second, Collector: okCollector{}}); err != nil {
			t.Fatal(err)
		}
		a.probes["p"] = p
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		t0 := time.Now()
		a.sched.Start(ctx)
		defer a.sched.Stop()
		// As record puts a report: the store owns its staleness.
		st.Put(store.Record{Probe: "p", Time: t0, StaleAfter: p.StaleAfter.Duration})
		a.wakeStalenessWatcher()
		go a.watchStaleness(ctx)
		synctest.Wait()
		base := a.Version()

		time.Sleep(20 * time.Second) // the report's freshness flips just after 20 s
		synctest.Wait()
		if got := a.Version(); got != base {
			t.Fatalf("at 20 s: version moved by %d, want 0", got-base)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := a.Version(); got != base+1 {
			t.Fatalf("just after 20 s: version moved by %d, want 1", got-base)
		}
		time.Sleep(10 * time.Second) // the job's health is stale just after 30 s
		synctest.Wait()
		if got := a.Version(); got != base+2 {
			t.Fatalf("just after 30 s: version moved by %d, want 2", got-base)
		}
		if h, _ := a.sched.HealthOf("p"); h.State != scheduler.StateStale {
			t.Errorf("state %s, want stale", h.State)
		}
		if next := a.nextFlip(time.Now()); !next.IsZero() {
			t.Errorf("nothing left to flip, but nextFlip = %v", next.Sub(t0))
		}
	})
}

// okCollector reports ok at once.
type okCollector struct{}

func (okCollector) Collect(context.Context, sdk.Request) (sdk.Report, error) {
	return sdk.Report{Status: sdk.StatusOK}, nil
}
