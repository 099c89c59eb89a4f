// Package scheduler runs probes on their intervals, concurrently, each run
// under a hard timeout, and keeps per-probe health.
//
//	s := scheduler.New(scheduler.Options{Workers: 8, OnResult: store.Put})
//	_ = s.Add(scheduler.Job{
//		Name: "system", Runtime: "builtin", Source: "builtin:system",
//		Collector: system.New(),
//		Interval:  10 * time.Second, Timeout: 5 * time.Second,
//	})
//	s.Start(ctx)
//	defer s.Stop()
//
// The rules, per job:
//
//   - The first run is at Start, or at Add when the scheduler is already
//     running. After that a tick is due every period, measured from the
//     previous tick: Interval plus a random jitter in [0, Jitter) (Jitter 0
//     means Interval/10, a negative Jitter means none), stretched by backoff
//     (below).
//   - Runs of one job never overlap. A tick that finds the previous run still
//     in flight (queued for a worker, collecting, or still running past its
//     timeout) is counted as Skipped and logged at debug level.
//   - At most Options.Workers runs collect at once. Time spent waiting for a
//     worker is not part of a run's Duration or of its Timeout.
//   - Each run gets context.WithTimeout(Timeout). The collector runs in its own
//     goroutine, so one that ignores its context cannot block the scheduler:
//     at the deadline the run is recorded as timed out (Result.TimedOut, Err
//     wrapping context.DeadlineExceeded) and its worker is released at once.
//     The job stays in flight, and its ticks are skipped, until that goroutine
//     really returns: an in-process probe that ignores its deadline costs
//     only itself. One that returns within a second of the deadline (the
//     WASM and plugin hosts stop theirs within milliseconds) is logged as
//     stopped at its timeout; one that goes on longer, as ignoring it.
//   - A panic in a collector is recovered and recorded as a failure carrying
//     the panic message; the stack is logged at error level.
//   - Backoff: after n consecutive unsuccessful runs (errors, panics and
//     timeouts alike) the period is min(Interval·2^(n-1), limit) instead of
//     Interval, where limit is 10·Interval but no more than 5 minutes (and never
//     less than Interval). So the first failure retries on the normal
//     schedule, then 2x, 4x, 8x, ... A success resets n to 0. See [Backoff].
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Collector is what the scheduler runs. sdk.Probe satisfies it, as do the
// WASM and plugin hosts. A Collector may also implement
// interface{ Denied() uint64 } (host calls it was denied), which Health reports.
type Collector interface {
	Collect(ctx context.Context, req sdk.Request) (sdk.Report, error)
}

// denier is the optional interface a Collector implements to report how many
// of its host calls were denied.
type denier interface{ Denied() uint64 }

// Job is one probe instance to run.
type Job struct {
	Name    string // unique instance name
	Runtime string // builtin|wasm|plugin; reported in Health only
	Source  string // what runs (builtin:system, a .wasm path, ...); reported in Health only

	Collector Collector
	// Request is passed to every Collect; its Probe field defaults to Name.
	Request sdk.Request

	// Interval between runs. Interval <= 0 disables the job, like Disabled.
	Interval time.Duration
	// Timeout of one run; <= 0 means Interval.
	Timeout time.Duration
	// StaleAfter is how old the last success may be before the job shows as
	// stale; <= 0 means 3·Interval.
	StaleAfter time.Duration
	// Jitter is the max random delay added to each interval; 0 means
	// Interval/10, negative means no jitter.
	Jitter time.Duration

	// Disabled jobs are listed in Health with state "disabled" but never run.
	Disabled bool
}

// Result is one completed run, successful or not.
type Result struct {
	Probe    string
	Start    time.Time     // when the run got a worker and started collecting
	Duration time.Duration // collecting time, excluding the wait for a worker
	Report   sdk.Report
	Err      error
	TimedOut bool // the run hit its Timeout; Err then wraps context.DeadlineExceeded
}

// Job states reported in Health.State.
const (
	StateOK       = "ok"       // the last run succeeded and is recent
	StateFailing  = "failing"  // the last run returned an error or panicked
	StateTimeout  = "timeout"  // the last run hit its timeout
	StateStale    = "stale"    // the last success is older than StaleAfter (or there has been none for that long)
	StateDisabled = "disabled" // the job never runs
	StatePending  = "pending"  // no run has completed yet, and the job is younger than StaleAfter
)

// Health is the state of one job. The portal owns how it is shown (no
// JSON here: portal/view.go's healthView is the API's shape).
type Health struct {
	Name    string
	Runtime string
	Source  string
	// State is one of the State* constants, computed when Health is called.
	State       string
	LastRun     time.Time // start of the last completed run
	LastSuccess time.Time // start of the last successful run
	NextRun     time.Time // zero when not scheduled
	DurationMS  float64   // of the last completed run
	LastError   string    // of the last completed run; empty after a success
	// Runs counts completed runs; Failures the unsuccessful ones among them
	// (errors, panics and timeouts); Timeouts those that timed out; Skipped
	// ticks that found the previous run still in flight; Denied host calls
	// denied to the collector.
	Runs                uint64
	Failures            uint64
	Timeouts            uint64
	Skipped             uint64
	Denied              uint64
	ConsecutiveFailures int
	IntervalMS          int64
	TimeoutMS           int64
	// Dropped and Series are filled by the agent, not the scheduler: what
	// it did not keep of the probe's reports, by reason (a limit, or the
	// store), and how many series the probe has active.
	Dropped map[string]uint64
	Series  int
}

// Options configure a Scheduler.
type Options struct {
	// Workers is the most runs that collect at once. <= 0 means
	// DefaultWorkers(): probes mostly wait on I/O (exec, D-Bus, sockets), so
	// a few per CPU keep the CPUs busy without letting a burst of runs at
	// start-up overrun a small host.
	Workers int
	// OnResult is called for every completed run (failures and timeouts
	// included), from the worker goroutine, after health is updated and after
	// the worker slot is released. It must be quick and safe for concurrent
	// use (hand the result to a channel or a batching writer). It is not
	// called again once Stop has returned.
	OnResult func(Result)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DefaultWorkers is the worker limit used when Options.Workers <= 0:
// 4 per CPU, at least 4.
func DefaultWorkers() int { return max(4, 4*runtime.NumCPU()) }

// Scheduler runs jobs. Its methods are safe for concurrent use.
type Scheduler struct {
	onResult func(Result)
	log      *slog.Logger
	sem      chan struct{} // one token per collecting run
	// jitter draws a tick's random delay in [0, n): rand.N, which tests
	// replace to know every tick's instant exactly.
	jitter func(n time.Duration) time.Duration

	mu      sync.Mutex
	jobs    map[string]*job
	ctx     context.Context // from Start; parent of every run's context
	started bool
	stopped bool
	stopCh  chan struct{} // closed when scheduling ends
	wg      sync.WaitGroup
}

// job is a Job plus its scheduling state. Fields below the blank line are
// guarded by Scheduler.mu.
type job struct {
	Job
	timeout    time.Duration
	staleAfter time.Duration
	maxJitter  time.Duration
	disabled   bool

	timer      *time.Timer
	gen        uint64 // bumped on every (re)schedule; a timer whose gen is old does nothing
	removed    bool
	inFlight   bool
	since      time.Time     // when the job was first scheduled
	lastTick   time.Time     // the last due tick, whether it ran or was skipped
	tickJitter time.Duration // jitter drawn at lastTick, reused when a result reschedules
	next       time.Time

	hasResult   bool
	outcome     string // StateOK, StateFailing or StateTimeout
	consec      int
	lastRun     time.Time
	lastSuccess time.Time
	lastDur     time.Duration
	lastErr     string
	runs        uint64
	failures    uint64
	timeouts    uint64
	skipped     uint64
}

// New returns a scheduler that is not started yet.
func New(o Options) *Scheduler {
	w := o.Workers
	if w <= 0 {
		w = DefaultWorkers()
	}
	l := o.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Scheduler{
		onResult: o.OnResult,
		log:      l.With("component", "scheduler"),
		sem:      make(chan struct{}, w),
		jitter:   rand.N[time.Duration],
		jobs:     make(map[string]*job),
		stopCh:   make(chan struct{}),
	}
}

// Add registers a job. It is an error if the name is empty or taken, if an
// enabled job has no collector, or if the scheduler was stopped. When the
// scheduler is running the job's first run is due at once.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" {
		return errors.New("scheduler: job has no name")
	}
	disabled := j.Disabled || j.Interval <= 0
	if j.Collector == nil && !disabled {
		return fmt.Errorf("scheduler: job %q has no collector", j.Name)
	}
	if j.Request.Probe == "" {
		j.Request.Probe = j.Name
	}
	jb := &job{Job: j, disabled: disabled, timeout: j.Timeout, staleAfter: j.StaleAfter, maxJitter: j.Jitter}
	if jb.timeout <= 0 {
		jb.timeout = j.Interval
	}
	if jb.staleAfter <= 0 {
		jb.staleAfter = 3 * j.Interval
	}
	if jb.maxJitter == 0 {
		jb.maxJitter = j.Interval / 10
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("scheduler: add %q: scheduler is stopped", j.Name)
	}
	if _, ok := s.jobs[j.Name]; ok {
		return fmt.Errorf("scheduler: a job named %q already exists", j.Name)
	}
	s.jobs[j.Name] = jb
	if s.started {
		s.begin(jb, time.Now())
	}
	return nil
}

// Remove stops a job's timer and forgets it. A run already collecting
// finishes and its result still goes to OnResult; a run still waiting for a
// worker is dropped. It reports whether the job existed.
func (s *Scheduler) Remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok {
		return false
	}
	j.removed = true
	j.next = time.Time{}
	if j.timer != nil {
		j.timer.Stop()
	}
	delete(s.jobs, name)
	return true
}

// Start schedules every job's first run now. Runs get contexts derived from
// ctx; when ctx is done the scheduler stops scheduling (call Stop to wait for
// in-flight runs). Start is a no-op when already started or stopped.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.ctx = ctx
	now := time.Now()
	for _, j := range s.jobs {
		s.begin(j, now)
	}
	go func() {
		select {
		case <-ctx.Done():
			s.halt()
		case <-s.stopCh:
		}
	}()
}

// Stop ends scheduling: no new run starts, runs waiting for a worker are
// dropped, and Stop waits for runs that are collecting, each for at most its
// Timeout (a collector that ignores its context is abandoned at its
// deadline). Stop is idempotent; OnResult is not called after it returns.
func (s *Scheduler) Stop() {
	s.halt()
	s.wg.Wait()
}

// halt stops every timer and marks the scheduler stopped.
func (s *Scheduler) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	for _, j := range s.jobs {
		if j.timer != nil {
			j.timer.Stop()
		}
		j.next = time.Time{}
	}
	close(s.stopCh)
}

// begin schedules a job's first run. s.mu must be held.
func (s *Scheduler) begin(j *job, now time.Time) {
	if j.disabled {
		return
	}
	j.since = now
	s.scheduleAt(j, now)
}

// scheduleAt (re)arms the job's timer. Each timer carries the generation it
// was armed for, so one that fired while being replaced does nothing.
// s.mu must be held.
func (s *Scheduler) scheduleAt(j *job, at time.Time) {
	j.gen++
	gen := j.gen
	if j.timer != nil {
		j.timer.Stop()
	}
	j.next = at
	j.timer = time.AfterFunc(time.Until(at), func() { s.tick(j, gen) })
}

// tick is a due run: start it, or count a skip if the previous one is still
// in flight, and arm the next tick.
func (s *Scheduler) tick(j *job, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || j.removed || gen != j.gen {
		return
	}
	now := time.Now()
	j.lastTick = now
	j.tickJitter = 0
	if j.maxJitter > 0 {
		j.tickJitter = s.jitter(j.maxJitter)
	}
	if j.inFlight {
		j.skipped++
		s.log.Debug("run skipped: previous run still in flight", "probe", j.Name, "skipped", j.skipped)
	} else {
		j.inFlight = true
		s.wg.Add(1)
		go s.run(j)
	}
	s.scheduleAt(j, now.Add(Backoff(j.Interval, j.consec)+j.tickJitter))
}

// outcome is what a collector returned.
type outcome struct {
	rep sdk.Report
	err error
}

// run waits for a worker, collects under the job's timeout and records the
// result. It owns one s.wg count, released once the result is delivered.
func (s *Scheduler) run(j *job) {
	select {
	case s.sem <- struct{}{}:
	case <-s.stopCh:
		s.abandon(j)
		return
	}
	s.mu.Lock()
	gone := s.stopped || j.removed
	s.mu.Unlock()
	if gone {
		<-s.sem
		s.abandon(j)
		return
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, j.timeout)
	done := make(chan outcome, 1) // buffered: a late collector never blocks on send
	go s.collect(ctx, j, done)

	var o outcome
	returned := true
	select {
	case o = <-done:
	case <-ctx.Done():
		select {
		case o = <-done: // finished at the deadline: take its own answer
		default:
			returned = false
		}
	}
	dur := time.Since(start)
	<-s.sem // the worker is free even if the collector is hung

	res := Result{Probe: j.Name, Start: start, Duration: dur, Report: o.rep, Err: o.err}
	if !returned {
		res.Err = fmt.Errorf("probe %q: no result after %s: %w", j.Name, j.timeout, ctx.Err())
	}
	// Read ctx.Err before cancel, which would turn it into Canceled. An error
	// that merely wraps DeadlineExceeded from the probe's own inner timeout is
	// a failure, not a scheduler timeout.
	res.TimedOut = res.Err != nil && errors.Is(res.Err, context.DeadlineExceeded) &&
		errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()

	// A run cut short because Start's context was cancelled (shutdown) is not
	// the probe's failure: drop it rather than record and deliver it.
	if res.Err != nil && !res.TimedOut && s.ctx.Err() != nil {
		s.log.Debug("run cancelled by shutdown", "probe", j.Name, "err", res.Err)
		if returned {
			s.abandon(j)
		} else {
			s.wg.Done()
			s.waitHung(j, done, start)
		}
		return
	}

	s.mu.Lock()
	s.record(j, res, returned)
	s.mu.Unlock()
	if s.onResult != nil {
		s.onResult(res)
	}
	s.wg.Done()
	if !returned {
		s.waitHung(j, done, start)
	}
}

// abandon ends a run that never collected (or whose result is dropped),
// releasing the job for its next tick.
func (s *Scheduler) abandon(j *job) {
	s.mu.Lock()
	j.inFlight = false
	s.mu.Unlock()
	s.wg.Done()
}

// lateGrace is how long after its deadline a collector may take to return
// and still count as stopped at its timeout: the WASM and plugin hosts cut
// a run within milliseconds of it, but not at the same instant.
const lateGrace = time.Second

// waitHung keeps the job in flight until a collector still running at its
// deadline returns, so ticks meanwhile are skipped instead of piling up
// goroutines. Its late answer is discarded: the run was already recorded
// as a timeout. A collector that returns within lateGrace was stopped at
// its timeout, as the runtimes do; only one that went on long after it
// ignored its deadline, and is logged as such.
func (s *Scheduler) waitHung(j *job, done <-chan outcome, start time.Time) {
	<-done
	s.mu.Lock()
	j.inFlight = false
	s.mu.Unlock()
	late := time.Since(start) - j.timeout
	if late <= lateGrace {
		s.log.Debug("probe stopped at its timeout", "probe", j.Name, "timeout", j.timeout, "late", late.Round(time.Millisecond))
		return
	}
	s.log.Warn("probe returned long after its timeout: it ignored its deadline", "probe", j.Name,
		"timeout", j.timeout, "late", late.Round(time.Millisecond))
}

// collect calls the collector, turning a panic into an error.
func (s *Scheduler) collect(ctx context.Context, j *job, done chan<- outcome) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("probe panicked", "probe", j.Name, "panic", r, "stack", string(debug.Stack()))
			done <- outcome{err: fmt.Errorf("probe %q panicked: %v", j.Name, r)}
		}
	}()
	rep, err := j.Collector.Collect(ctx, j.Request)
	done <- outcome{rep: rep, err: err}
}

// record updates a job's health with a result and, when the failure count
// changed the period, moves its next tick. s.mu must be held.
func (s *Scheduler) record(j *job, res Result, returned bool) {
	if returned {
		j.inFlight = false
	}
	j.hasResult = true
	j.runs++
	j.lastRun = res.Start
	j.lastDur = res.Duration
	if res.Err == nil {
		if j.consec > 0 {
			s.log.Info("probe recovered", "probe", j.Name, "after_failures", j.consec)
		}
		j.outcome = StateOK
		j.lastSuccess = res.Start
		j.lastErr = ""
		j.consec = 0
	} else {
		j.failures++
		j.outcome = StateFailing
		if res.TimedOut {
			j.timeouts++
			j.outcome = StateTimeout
		}
		j.lastErr = res.Err.Error()
		j.consec++
		// Warn when a probe starts failing, not on every retry of a probe
		// that has been down for hours.
		lvl := slog.LevelDebug
		if j.consec == 1 {
			lvl = slog.LevelWarn
		}
		msg := "probe run failed"
		if res.TimedOut {
			msg = "probe run timed out"
		}
		s.log.Log(context.Background(), lvl, msg, "probe", j.Name,
			"err", res.Err, "timed_out", res.TimedOut, "consecutive", j.consec,
			"next_period", Backoff(j.Interval, j.consec))
	}

	if s.stopped || j.removed || j.lastTick.IsZero() {
		return
	}
	// The next tick was armed before this result was known; move it to where
	// the new failure count puts it (later after a failure, back to Interval
	// after a success), never into the past.
	at := j.lastTick.Add(Backoff(j.Interval, j.consec) + j.tickJitter)
	if !at.Equal(j.next) {
		if now := time.Now(); at.Before(now) {
			at = now
		}
		s.scheduleAt(j, at)
	}
}

// Backoff is the period between ticks of a job with the given interval after
// n consecutive unsuccessful runs: interval for n <= 1, then interval·2^(n-1),
// capped at 10·interval but no more than 5 minutes and never below interval.
// Jitter is added on top.
func Backoff(interval time.Duration, n int) time.Duration {
	if n <= 1 || interval <= 0 {
		return interval
	}
	limit := max(interval, min(10*interval, 5*time.Minute))
	d := interval
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Health returns the health of every job, sorted by name.
func (s *Scheduler) Health() []Health {
	s.mu.Lock()
	now := time.Now()
	hs := make([]Health, 0, len(s.jobs))
	cs := make([]Collector, 0, len(s.jobs))
	for _, j := range s.jobs {
		hs = append(hs, j.health(now))
		cs = append(cs, j.Collector)
	}
	s.mu.Unlock()
	// Collectors are asked outside the lock: they are not ours to trust.
	for i, c := range cs {
		if d, ok := c.(denier); ok {
			hs[i].Denied = d.Denied()
		}
	}
	sort.Slice(hs, func(a, b int) bool { return hs[a].Name < hs[b].Name })
	return hs
}

// HealthOf returns one job's health, and false if there is no such job.
func (s *Scheduler) HealthOf(name string) (Health, bool) {
	s.mu.Lock()
	j, ok := s.jobs[name]
	if !ok {
		s.mu.Unlock()
		return Health{}, false
	}
	h := j.health(time.Now())
	c := j.Collector
	s.mu.Unlock()
	if d, ok := c.(denier); ok {
		h.Denied = d.Denied()
	}
	return h, true
}

// NextStateChange is the earliest time after now at which a job's Health
// State changes with no run finishing (an ok or pending job turning stale),
// or the zero time when none would. Watchers sleep until then instead of
// polling Health.
func (s *Scheduler) NextStateChange(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next time.Time
	for _, j := range s.jobs {
		var at time.Time
		switch {
		case j.disabled:
			continue
		case !j.hasResult && !j.since.IsZero():
			at = j.since.Add(j.staleAfter)
		case j.hasResult && j.outcome == StateOK:
			at = j.lastSuccess.Add(j.staleAfter)
		default:
			continue
		}
		// state compares with >: the state changes just after at.
		at = at.Add(time.Nanosecond)
		if at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// health snapshots a job. s.mu must be held.
func (j *job) health(now time.Time) Health {
	return Health{
		Name:                j.Name,
		Runtime:             j.Runtime,
		Source:              j.Source,
		State:               j.state(now),
		LastRun:             j.lastRun,
		LastSuccess:         j.lastSuccess,
		NextRun:             j.next,
		DurationMS:          float64(j.lastDur) / float64(time.Millisecond),
		LastError:           j.lastErr,
		Runs:                j.runs,
		Failures:            j.failures,
		Timeouts:            j.timeouts,
		Skipped:             j.skipped,
		ConsecutiveFailures: j.consec,
		IntervalMS:          j.Interval.Milliseconds(),
		TimeoutMS:           j.timeout.Milliseconds(),
	}
}

// state is computed at read time so that staleness needs no timer. A failing
// or timed-out job keeps that state rather than turning stale: with backoff
// its runs may be further apart than StaleAfter, and "failing" says more.
func (j *job) state(now time.Time) string {
	switch {
	case j.disabled:
		return StateDisabled
	case !j.hasResult:
		if j.since.IsZero() || now.Sub(j.since) <= j.staleAfter {
			return StatePending
		}
		return StateStale
	case j.outcome == StateOK && now.Sub(j.lastSuccess) > j.staleAfter:
		return StateStale
	}
	return j.outcome
}
