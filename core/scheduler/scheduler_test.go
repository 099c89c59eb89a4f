package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// collectFunc adapts a function to Collector.
type collectFunc func(ctx context.Context, req sdk.Request) (sdk.Report, error)

func (f collectFunc) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	return f(ctx, req)
}

// ok is a collector that succeeds at once.
var ok = collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
	return sdk.Report{Status: sdk.StatusOK}, nil
})

// sleeper collects for d, honouring its context.
func sleeper(d time.Duration) Collector {
	return collectFunc(func(ctx context.Context, _ sdk.Request) (sdk.Report, error) {
		select {
		case <-time.After(d):
			return sdk.Report{Status: sdk.StatusOK}, nil
		case <-ctx.Done():
			return sdk.Report{}, ctx.Err()
		}
	})
}

// recorder collects results delivered through OnResult.
type recorder struct {
	mu  sync.Mutex
	res []Result
	ch  chan Result
}

func newRecorder() *recorder { return &recorder{ch: make(chan Result, 1024)} }

func (r *recorder) onResult(res Result) {
	r.mu.Lock()
	r.res = append(r.res, res)
	r.mu.Unlock()
	select {
	case r.ch <- res:
	default:
	}
}

func (r *recorder) of(probe string) []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Result
	for _, res := range r.res {
		if res.Probe == probe {
			out = append(out, res)
		}
	}
	return out
}

// next waits for the next result of probe.
func (r *recorder) next(t *testing.T, probe string, within time.Duration) Result {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case res := <-r.ch:
			if res.Probe == probe {
				return res
			}
		case <-deadline:
			t.Fatalf("no result from %q within %s", probe, within)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTest(t *testing.T, workers int) (*Scheduler, *recorder) {
	t.Helper()
	rec := newRecorder()
	s := New(Options{Workers: workers, OnResult: rec.onResult, Logger: quiet()})
	t.Cleanup(s.Stop)
	return s, rec
}

func mustAdd(t *testing.T, s *Scheduler, j Job) {
	t.Helper()
	if err := s.Add(j); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func health(t *testing.T, s *Scheduler, name string) Health {
	t.Helper()
	h, found := s.HealthOf(name)
	if !found {
		t.Fatalf("HealthOf(%q): not found", name)
	}
	return h
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		interval time.Duration
		n        int
		want     time.Duration
	}{
		{time.Second, 0, time.Second},
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 4, 8 * time.Second},
		{time.Second, 5, 10 * time.Second}, // 16 s capped at 10·interval
		{time.Second, 100, 10 * time.Second},
		{time.Minute, 3, 4 * time.Minute},
		{time.Minute, 4, 5 * time.Minute}, // 8 m capped at 5 m
		{10 * time.Minute, 5, 10 * time.Minute},
		{0, 3, 0},
	}
	for _, tt := range tests {
		if got := Backoff(tt.interval, tt.n); got != tt.want {
			t.Errorf("Backoff(%s, %d) = %s, want %s", tt.interval, tt.n, got, tt.want)
		}
	}
}

func TestAddValidates(t *testing.T) {
	s, _ := newTest(t, 1)
	mustAdd(t, s, Job{Name: "a", Collector: ok, Interval: time.Hour})
	for _, tt := range []struct {
		job  Job
		want string
	}{
		{Job{Collector: ok, Interval: time.Hour}, "no name"},
		{Job{Name: "a", Collector: ok, Interval: time.Hour}, "already exists"},
		{Job{Name: "b", Interval: time.Hour}, "no collector"},
	} {
		err := s.Add(tt.job)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%+v) = %v, want error containing %q", tt.job, err, tt.want)
		}
	}
	// A disabled job needs no collector.
	mustAdd(t, s, Job{Name: "c", Disabled: true})
	s.Stop()
	if err := s.Add(Job{Name: "d", Collector: ok, Interval: time.Hour}); err == nil {
		t.Error("Add after Stop succeeded")
	}
}

func TestFirstRunAtStart(t *testing.T) {
	s, rec := newTest(t, 2)
	var got sdk.Request
	var mu sync.Mutex
	mustAdd(t, s, Job{Name: "first", Collector: collectFunc(func(_ context.Context, req sdk.Request) (sdk.Report, error) {
		mu.Lock()
		got = req
		mu.Unlock()
		return sdk.Report{Status: sdk.StatusOK}, nil
	}), Request: sdk.Request{Config: map[string]any{"k": "v"}}, Interval: time.Hour})

	if h := health(t, s, "first"); h.State != StatePending || !h.NextRun.IsZero() {
		t.Fatalf("before Start: state %q next %v, want pending and no next run", h.State, h.NextRun)
	}
	start := time.Now()
	s.Start(context.Background())
	res := rec.next(t, "first", 2*time.Second)
	if lag := res.Start.Sub(start); lag > 500*time.Millisecond {
		t.Errorf("first run started %s after Start; want at once", lag)
	}
	mu.Lock()
	if got.Probe != "first" || got.Config["k"] != "v" {
		t.Errorf("collector got request %+v; want probe name filled in and config passed", got)
	}
	mu.Unlock()
	h := health(t, s, "first")
	if h.State != StateOK || h.Runs != 1 || h.LastSuccess.IsZero() || h.IntervalMS != 3600000 || h.TimeoutMS != 3600000 {
		t.Errorf("health after first run = %+v", h)
	}
	if d := time.Until(h.NextRun); d < 50*time.Minute {
		t.Errorf("next run in %s; want about an hour", d)
	}
}

func TestIntervalRespected(t *testing.T) {
	s, rec := newTest(t, 2)
	const interval = 100 * time.Millisecond
	mustAdd(t, s, Job{Name: "tick", Collector: ok, Interval: interval, Jitter: 20 * time.Millisecond})
	s.Start(context.Background())
	time.Sleep(550 * time.Millisecond)
	s.Stop()
	res := rec.of("tick")
	// Runs at ~0, 100-120, 200-240, 300-360, 400-480 ms: 5, or 4 on a slow
	// host. Never more than 6: that would mean the interval was not kept.
	if len(res) < 3 || len(res) > 6 {
		t.Fatalf("%d runs in 550 ms at a 100 ms interval; want 3..6", len(res))
	}
	for i := 1; i < len(res); i++ {
		// Timers never fire early; allow a little for the worker hand-off.
		if gap := res[i].Start.Sub(res[i-1].Start); gap < interval-10*time.Millisecond {
			t.Errorf("gap %d = %s; want >= interval %s", i, gap, interval)
		}
	}
}

func TestJitterDefaultsAndBounds(t *testing.T) {
	s, rec := newTest(t, 2)
	const interval = 50 * time.Millisecond
	mustAdd(t, s, Job{Name: "j", Collector: ok, Interval: interval, Jitter: 50 * time.Millisecond})
	s.Start(context.Background())
	time.Sleep(700 * time.Millisecond)
	s.Stop()
	res := rec.of("j")
	if len(res) < 4 {
		t.Fatalf("only %d runs", len(res))
	}
	var distinct = map[time.Duration]bool{}
	for i := 1; i < len(res); i++ {
		gap := res[i].Start.Sub(res[i-1].Start)
		if gap < interval-10*time.Millisecond {
			t.Errorf("gap %s below interval", gap)
		}
		distinct[gap.Round(5*time.Millisecond)] = true
	}
	// With up to 50 ms of jitter the gaps cannot all be the same.
	if len(distinct) < 2 {
		t.Errorf("gaps show no jitter: %v", distinct)
	}
}

func TestTimeoutOfCollectorIgnoringContext(t *testing.T) {
	s, rec := newTest(t, 1) // one worker: the hung probe must not hold it
	release := make(chan struct{})
	var calls atomic.Int32
	mustAdd(t, s, Job{Name: "hung", Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Jitter: -1,
		Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
			if calls.Add(1) == 1 {
				<-release // ignores ctx
			}
			return sdk.Report{}, nil
		})})
	mustAdd(t, s, Job{Name: "other", Collector: ok, Interval: 50 * time.Millisecond})
	t0 := time.Now()
	s.Start(context.Background())

	res := rec.next(t, "hung", 2*time.Second)
	if !res.TimedOut || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("result = %+v (err %v); want TimedOut with context.DeadlineExceeded", res, res.Err)
	}
	// Recorded at the deadline, not when the collector returns (never, yet).
	if el := time.Since(t0); el > time.Second {
		t.Errorf("timeout recorded %s after start; want about 50 ms", el)
	}
	if res.Duration < 50*time.Millisecond || res.Duration > 500*time.Millisecond {
		t.Errorf("duration %s; want about the 50 ms timeout", res.Duration)
	}

	// While hung: later ticks are skipped, and the other probe keeps running
	// on the single worker.
	otherBefore := len(rec.of("other"))
	time.Sleep(350 * time.Millisecond)
	h := health(t, s, "hung")
	if h.State != StateTimeout || h.Timeouts != 1 || h.Runs != 1 || h.Skipped < 2 || h.Failures != 1 {
		t.Errorf("hung health = %+v; want state timeout, 1 run, 1 timeout, >= 2 skipped", h)
	}
	if !strings.Contains(h.LastError, "deadline exceeded") {
		t.Errorf("last_error %q", h.LastError)
	}
	if n := len(rec.of("other")) - otherBefore; n < 3 {
		t.Errorf("other probe ran %d times while hung probe held on; want it unaffected", n)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("hung collector called %d times; want no overlapping call", c)
	}

	// Once the goroutine returns the job runs again.
	close(release)
	eventually(t, 2*time.Second, "hung job to run again", func() bool {
		return health(t, s, "hung").State == StateOK
	})
	if c := calls.Load(); c < 2 {
		t.Errorf("calls = %d after release", c)
	}
}

func TestNoOverlap(t *testing.T) {
	s, _ := newTest(t, 4)
	var running, maxRunning, calls atomic.Int32
	mustAdd(t, s, Job{Name: "slow", Interval: 50 * time.Millisecond, Timeout: time.Second, Jitter: -1,
		Collector: collectFunc(func(ctx context.Context, _ sdk.Request) (sdk.Report, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			calls.Add(1)
			time.Sleep(180 * time.Millisecond)
			return sdk.Report{}, nil
		})})
	s.Start(context.Background())
	time.Sleep(600 * time.Millisecond)
	s.Stop()
	if m := maxRunning.Load(); m != 1 {
		t.Errorf("max concurrent runs of one job = %d; want 1", m)
	}
	h := health(t, s, "slow")
	// Each 180 ms run spans 3-4 ticks at 50 ms: about 3 skipped per run.
	if h.Skipped < 4 {
		t.Errorf("skipped = %d; want several (runs %d)", h.Skipped, h.Runs)
	}
	if h.Runs != uint64(calls.Load()) || h.Runs < 2 || h.Runs > 4 {
		t.Errorf("runs = %d, calls = %d; want 2..4 equal", h.Runs, calls.Load())
	}
}

func TestPanicRecovered(t *testing.T) {
	s, rec := newTest(t, 1)
	var calls atomic.Int32
	mustAdd(t, s, Job{Name: "boom", Interval: 50 * time.Millisecond, Jitter: -1,
		Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
			if calls.Add(1) == 1 {
				panic("kaboom")
			}
			return sdk.Report{Status: sdk.StatusOK}, nil
		})})
	s.Start(context.Background())
	res := rec.next(t, "boom", 2*time.Second)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "kaboom") || res.TimedOut {
		t.Fatalf("result after panic = %+v; want an error with the panic message", res)
	}
	h := health(t, s, "boom")
	if h.State != StateFailing || h.Failures != 1 || !strings.Contains(h.LastError, "kaboom") {
		t.Errorf("health after panic = %+v", h)
	}
	// The scheduler survives and the job runs again.
	if res := rec.next(t, "boom", 2*time.Second); res.Err != nil {
		t.Errorf("run after panic: %v", res.Err)
	}
	if h := health(t, s, "boom"); h.State != StateOK || h.ConsecutiveFailures != 0 || h.LastError != "" {
		t.Errorf("health after recovery = %+v", h)
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	s, rec := newTest(t, 1)
	// 100 ms, not less: a timer late by a busy machine (or -race) must not
	// look like a backoff step.
	const interval = 100 * time.Millisecond
	const fails = 4
	var calls atomic.Int32
	mustAdd(t, s, Job{Name: "flaky", Interval: interval, Jitter: -1,
		Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
			if calls.Add(1) <= fails {
				return sdk.Report{}, errors.New("down")
			}
			return sdk.Report{}, nil
		})})
	s.Start(context.Background())

	var res []Result
	for len(res) < fails+3 {
		res = append(res, rec.next(t, "flaky", 3*time.Second))
		if len(res) == fails {
			if h := health(t, s, "flaky"); h.ConsecutiveFailures != fails || h.State != StateFailing {
				t.Errorf("after %d failures: %+v", fails, h)
			}
		}
	}
	// Gaps after 1, 2, 3, 4 failures: 100, 200, 400, 800 ms; after success 100.
	want := []time.Duration{interval, 2 * interval, 4 * interval, 8 * interval, interval, interval}
	for i, w := range want {
		gap := res[i+1].Start.Sub(res[i].Start)
		// Timers never fire early; the upper bound is loose for a busy host
		// but still well below the next backoff step.
		if gap < w-10*time.Millisecond || gap > 2*w+60*time.Millisecond {
			t.Errorf("gap after run %d = %s; want about %s", i+1, gap, w)
		}
	}
	if h := health(t, s, "flaky"); h.ConsecutiveFailures != 0 || h.State != StateOK || h.Failures != fails {
		t.Errorf("after recovery: %+v", h)
	}
}

func TestWorkerLimit(t *testing.T) {
	const (
		workers = 3
		jobs    = 30
		work    = 50 * time.Millisecond
		// timeout is well above one run's work, so a run slowed by a busy
		// machine (or -race) does not time out and free its worker early,
		// yet well below the ~500 ms the last jobs wait for a worker.
		timeout = 300 * time.Millisecond
	)
	s, rec := newTest(t, workers)
	var running, maxRunning atomic.Int32
	c := collectFunc(func(ctx context.Context, _ sdk.Request) (sdk.Report, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(work)
		return sdk.Report{}, nil
	})
	for i := range jobs {
		mustAdd(t, s, Job{Name: fmt.Sprintf("j%02d", i), Collector: c, Interval: time.Hour, Timeout: timeout})
	}
	began := time.Now()
	s.Start(context.Background())
	for range jobs {
		res := <-rec.ch
		// Queueing for a worker is not the run's time: none timed out
		// though the last ones waited longer than the timeout for a slot.
		if res.Err != nil || res.Duration >= timeout {
			t.Errorf("%s: err %v duration %s; waiting for a worker must not count", res.Probe, res.Err, res.Duration)
		}
	}
	if waited := time.Since(began); waited < timeout {
		t.Errorf("the round took %s: the last jobs did not wait longer than the timeout, so this proves nothing", waited)
	}
	if m := maxRunning.Load(); m != workers {
		t.Errorf("max concurrent = %d; want %d", m, workers)
	}
}

func TestStaleAndStates(t *testing.T) {
	s, _ := newTest(t, 2)
	var calls atomic.Int32
	// Succeeds once, then takes long (within its timeout): no fresh success.
	mustAdd(t, s, Job{Name: "slowing", Interval: 50 * time.Millisecond, Timeout: 2 * time.Second, StaleAfter: 150 * time.Millisecond,
		Collector: collectFunc(func(ctx context.Context, _ sdk.Request) (sdk.Report, error) {
			if calls.Add(1) > 1 {
				select {
				case <-time.After(700 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			return sdk.Report{}, nil
		})})
	mustAdd(t, s, Job{Name: "failing", Interval: time.Hour, Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
		return sdk.Report{}, errors.New("no socket")
	})})
	mustAdd(t, s, Job{Name: "off", Collector: ok, Interval: time.Second, Disabled: true})
	mustAdd(t, s, Job{Name: "zero", Collector: ok}) // Interval 0: disabled
	s.Start(context.Background())

	eventually(t, 2*time.Second, "first success", func() bool { return health(t, s, "slowing").State == StateOK })
	eventually(t, 2*time.Second, "stale", func() bool { return health(t, s, "slowing").State == StateStale })
	if h := health(t, s, "slowing"); h.Runs != 1 || h.Skipped == 0 {
		t.Errorf("stale job: %+v; want 1 run and skips while the second is in flight", h)
	}

	hs := s.Health()
	var names, states []string
	for _, h := range hs {
		names = append(names, h.Name)
		states = append(states, h.State)
	}
	if got := strings.Join(names, ","); got != "failing,off,slowing,zero" {
		t.Errorf("Health() order = %s; want sorted by name", got)
	}
	if got := strings.Join(states, ","); got != "failing,disabled,stale,disabled" {
		t.Errorf("states = %s", got)
	}
	if hs[1].Runs != 0 || !hs[1].NextRun.IsZero() {
		t.Errorf("disabled job ran or is scheduled: %+v", hs[1])
	}
	if hs[0].LastError != "no socket" || hs[0].ConsecutiveFailures != 1 {
		t.Errorf("failing job: %+v", hs[0])
	}
}

func TestStaleAfterStop(t *testing.T) {
	s, rec := newTest(t, 1)
	mustAdd(t, s, Job{Name: "p", Collector: ok, Interval: 40 * time.Millisecond}) // StaleAfter 120 ms
	s.Start(context.Background())
	rec.next(t, "p", 2*time.Second)
	s.Stop()
	if h := health(t, s, "p"); h.State != StateOK {
		t.Fatalf("right after stop: %q", h.State)
	}
	time.Sleep(200 * time.Millisecond)
	if h := health(t, s, "p"); h.State != StateStale || !h.NextRun.IsZero() {
		t.Errorf("200 ms after stop: state %q next %v; want stale, not scheduled", h.State, h.NextRun)
	}
}

func TestRemove(t *testing.T) {
	s, rec := newTest(t, 2)
	release := make(chan struct{})
	var inFlight atomic.Bool
	mustAdd(t, s, Job{Name: "fast", Collector: ok, Interval: 30 * time.Millisecond})
	mustAdd(t, s, Job{Name: "blocked", Interval: 30 * time.Millisecond, Timeout: 5 * time.Second,
		Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
			inFlight.Store(true)
			<-release
			return sdk.Report{Message: "late"}, nil
		})})
	s.Start(context.Background())
	rec.next(t, "fast", 2*time.Second)
	eventually(t, 2*time.Second, "blocked run in flight", inFlight.Load)

	if !s.Remove("fast") || !s.Remove("blocked") {
		t.Fatal("Remove of existing jobs returned false")
	}
	if s.Remove("fast") {
		t.Error("second Remove returned true")
	}
	if _, found := s.HealthOf("fast"); found {
		t.Error("removed job still in HealthOf")
	}
	if len(s.Health()) != 0 {
		t.Errorf("Health() = %+v after removing all", s.Health())
	}
	n := len(rec.of("fast"))
	time.Sleep(150 * time.Millisecond)
	if m := len(rec.of("fast")); m != n {
		t.Errorf("removed job ran %d more times", m-n)
	}
	// The in-flight run still delivers its result.
	close(release)
	if res := rec.next(t, "blocked", 2*time.Second); res.Err != nil || res.Report.Message != "late" {
		t.Errorf("in-flight result after Remove = %+v", res)
	}
	// The name is free again.
	mustAdd(t, s, Job{Name: "fast", Collector: ok, Interval: time.Hour})
	rec.next(t, "fast", 2*time.Second)
}

func TestAddAfterStart(t *testing.T) {
	s, rec := newTest(t, 2)
	s.Start(context.Background())
	time.Sleep(20 * time.Millisecond)
	added := time.Now()
	mustAdd(t, s, Job{Name: "late", Collector: ok, Interval: time.Hour})
	res := rec.next(t, "late", 2*time.Second)
	if lag := res.Start.Sub(added); lag > 500*time.Millisecond {
		t.Errorf("first run %s after Add; want at once", lag)
	}
	if h := health(t, s, "late"); h.State != StateOK || h.Runs != 1 {
		t.Errorf("health = %+v", h)
	}
}

func TestStopWaitsAndIsIdempotent(t *testing.T) {
	s, rec := newTest(t, 2)
	started := make(chan struct{}, 2)
	mustAdd(t, s, Job{Name: "busy", Interval: time.Hour, Timeout: time.Second,
		Collector: collectFunc(func(ctx context.Context, _ sdk.Request) (sdk.Report, error) {
			started <- struct{}{}
			time.Sleep(150 * time.Millisecond)
			return sdk.Report{}, nil
		})})
	release := make(chan struct{})
	defer close(release)
	mustAdd(t, s, Job{Name: "stuck", Interval: time.Hour, Timeout: 200 * time.Millisecond,
		Collector: collectFunc(func(context.Context, sdk.Request) (sdk.Report, error) {
			started <- struct{}{}
			<-release // ignores ctx
			return sdk.Report{}, nil
		})})
	s.Start(context.Background())
	<-started
	<-started // both are collecting: Stop must wait for them, not drop them
	t0 := time.Now()
	s.Stop()
	el := time.Since(t0)
	// Waited for the busy run, and for the stuck one only up to its timeout.
	if got := len(rec.of("busy")); got != 1 {
		t.Errorf("busy results after Stop = %d; want the in-flight run delivered before Stop returned", got)
	}
	if res := rec.of("stuck"); len(res) != 1 || !res[0].TimedOut {
		t.Errorf("stuck results = %+v; want one timeout", res)
	}
	if el > time.Second {
		t.Errorf("Stop took %s; want bounded by the 200 ms timeout", el)
	}
	s.Stop() // idempotent
	s.Start(context.Background())
	time.Sleep(50 * time.Millisecond)
	if got := len(rec.of("busy")); got != 1 {
		t.Errorf("a run happened after Stop: %d results", got)
	}
}

func TestStartContextCancelStopsScheduling(t *testing.T) {
	s, rec := newTest(t, 2)
	mustAdd(t, s, Job{Name: "p", Collector: ok, Interval: 30 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	rec.next(t, "p", 2*time.Second)
	cancel()
	time.Sleep(30 * time.Millisecond)
	n := len(rec.of("p"))
	time.Sleep(150 * time.Millisecond)
	if m := len(rec.of("p")); m != n {
		t.Errorf("%d runs after the Start context was cancelled", m-n)
	}
	if h := health(t, s, "p"); h.Failures != 0 {
		t.Errorf("shutdown counted as failure: %+v", h)
	}
}

// denying is a collector that reports denied host calls.
type denying struct{ Collector }

func (denying) Denied() uint64 { return 7 }

func TestDeniedAndJSON(t *testing.T) {
	s, _ := newTest(t, 1)
	mustAdd(t, s, Job{Name: "wasm", Runtime: "wasm", Source: "x.wasm", Collector: denying{ok}, Interval: time.Hour})
	h := health(t, s, "wasm")
	if h.Denied != 7 || s.Health()[0].Denied != 7 {
		t.Errorf("denied = %d; want 7 from the collector", h.Denied)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "runtime", "source", "state", "last_run", "last_success", "next_run",
		"duration_ms", "last_error", "runs", "failures", "timeouts", "skipped", "denied",
		"consecutive_failures", "interval_ms", "timeout_ms"} {
		if _, found := m[k]; !found {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if len(m) != 17 {
		t.Errorf("JSON has %d keys; want 17: %s", len(m), b)
	}
}

// round starts n jobs that each collect for d and returns how long it takes
// until all first runs have completed.
func round(tb testing.TB, n, workers int, d time.Duration) time.Duration {
	tb.Helper()
	done := make(chan Result, n)
	s := New(Options{Workers: workers, OnResult: func(r Result) { done <- r }, Logger: quiet()})
	defer s.Stop()
	for i := range n {
		if err := s.Add(Job{Name: string(rune('a' + i)), Collector: sleeper(d), Interval: time.Hour, Timeout: 2 * d * time.Duration(n)}); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := time.Now()
	s.Start(context.Background())
	for range n {
		if r := <-done; r.Err != nil {
			tb.Fatalf("%s: %v", r.Probe, r.Err)
		}
	}
	return time.Since(t0)
}

// TestConcurrentRound proves the concurrency the issue asks for: ten probes
// that each take 1 s finish a round in about 1 s with ten workers (the
// original Python agent took 10 s sequentially, 3.3 s with 4 threads).
func TestConcurrentRound(t *testing.T) {
	el := round(t, 10, 10, time.Second)
	t.Logf("10 probes x 1 s, 10 workers: round in %s", el)
	if el < time.Second || el >= 2*time.Second {
		t.Errorf("round took %s; want about 1 s (< 2 s)", el)
	}
	// The same limit serialises: 3 probes x 200 ms on 1 worker vs 3 workers.
	seq := round(t, 3, 1, 200*time.Millisecond)
	par := round(t, 3, 3, 200*time.Millisecond)
	t.Logf("3 probes x 200 ms: 1 worker %s, 3 workers %s", seq, par)
	if seq < 600*time.Millisecond {
		t.Errorf("1 worker: %s; want >= 600 ms (runs one at a time)", seq)
	}
	if par >= 400*time.Millisecond || par >= seq/2 {
		t.Errorf("3 workers: %s; want about 200 ms", par)
	}
}
