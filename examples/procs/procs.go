// Package procs is an example of a native probe, run by the agent as a
// go-plugin binary (runtime = "plugin"): the processes using the most CPU
// and memory, from gopsutil.
//
// It has to be native. gopsutil reads several /proc files for every process
// and makes system calls (the clock tick rate, the user database) that a
// WASM guest cannot make; through the read_file host function it would take
// several host calls per process per run. And the plugin process lives between runs, so it keeps each
// process's CPU time from the previous run and reports CPU use over the
// interval, as top does, rather than since the process started.
//
// The same source is the probe's code whatever runs it: cmd/main.go
// registers it and calls sdk.Serve.
package procs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/shirou/gopsutil/v3/process"
)

// Config is the probe's [probe.config] table.
type Config struct {
	// Top is how many processes are reported as entities (default 10),
	// and how many process names get metrics of their own.
	Top int `json:"top"`
	// SortBy ranks processes by "cpu" (the default) or "rss".
	SortBy string `json:"sort_by"`
	// CPUWarnPercent marks a process warn at this CPU use, in percent of
	// one core (default 90; a process using two full cores is at 200).
	CPUWarnPercent float64 `json:"cpu_warn_percent"`
	// RSSWarnBytes marks a process warn at this resident size (0: never).
	RSSWarnBytes float64 `json:"rss_warn_bytes"`
	// ZombiesWarn makes the report warn at this many zombie processes
	// (default 5; -1: never).
	ZombiesWarn int `json:"zombies_warn"`
}

func (c *Config) defaults() error {
	if c.Top == 0 {
		c.Top = 10
	}
	if c.SortBy == "" {
		c.SortBy = "cpu"
	}
	if c.CPUWarnPercent == 0 {
		c.CPUWarnPercent = 90
	}
	if c.ZombiesWarn == 0 {
		c.ZombiesWarn = 5
	}
	switch {
	case c.Top < 0:
		return fmt.Errorf("top = %d: must be positive", c.Top)
	case c.SortBy != "cpu" && c.SortBy != "rss":
		return fmt.Errorf("sort_by = %q: must be cpu or rss", c.SortBy)
	}
	return nil
}

// Probe reports the top processes. It remembers each process's CPU time
// between runs.
type Probe struct {
	mu   sync.Mutex
	prev map[int32]cpuMark
	at   time.Time // of prev
}

// cpuMark is a process's CPU time at one run; created tells a reused pid
// from the same process.
type cpuMark struct {
	created int64
	seconds float64
}

var _ sdk.Probe = (*Probe)(nil)

// New returns the probe.
func New() *Probe { return &Probe{} }

// Info names the probe.
func (*Probe) Info() sdk.Info {
	return sdk.Info{Name: "procs", Version: "1.0.0", Description: "the processes using the most CPU and memory (native plugin, gopsutil)"}
}

// Proc is one process as read from the system.
type Proc struct {
	PID, PPID  int32
	Name       string
	State      string // running, sleep, zombie, ... as gopsutil names them
	Created    int64  // unix ms
	CPUSeconds float64
	CPUPercent float64 // of one core, over the last interval (or the process's life on the first run)
	RSS        float64
	Threads    int32
}

// Collect reads every process and reports the top ones.
func (p *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	if runtime.GOOS == "wasip1" {
		return sdk.Report{}, errors.New("procs is a native probe: run it as a plugin (runtime = \"plugin\", make plugins), not as WASM")
	}
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return sdk.Report{}, err
	}
	if err := cfg.defaults(); err != nil {
		return sdk.Report{}, fmt.Errorf("procs: %w", err)
	}
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return sdk.Report{}, fmt.Errorf("procs: list processes: %w", err)
	}
	now := time.Now()
	list := make([]Proc, 0, len(procs))
	for _, pr := range procs {
		if ctx.Err() != nil {
			return sdk.Report{}, fmt.Errorf("procs: %w", ctx.Err())
		}
		if proc, ok := read(ctx, pr); ok {
			list = append(list, proc)
		}
	}
	p.mu.Lock()
	interval := p.cpuPercents(list, now)
	p.mu.Unlock()

	r := Summarize(list, cfg)
	for i, e := range r.Entities {
		// The costlier details, for the few reported.
		pr := &process.Process{Pid: e.Attrs["pid"].(int32)}
		if u, err := pr.UsernameWithContext(ctx); err == nil {
			r.Entities[i].Attrs["user"] = u
		}
		if c, err := pr.CmdlineWithContext(ctx); err == nil {
			r.Entities[i].Attrs["cmdline"] = cut(c, 200)
		}
	}
	if interval == 0 {
		r.Message += " (CPU since each process started: first run)"
	}
	return r, nil
}

// read reads what ranking needs; a process that exited meanwhile is skipped.
func read(ctx context.Context, pr *process.Process) (Proc, bool) {
	t, err := pr.TimesWithContext(ctx)
	if err != nil {
		return Proc{}, false
	}
	p := Proc{PID: pr.Pid, CPUSeconds: t.User + t.System}
	p.Created, _ = pr.CreateTimeWithContext(ctx)
	p.Name, _ = pr.NameWithContext(ctx)
	p.PPID, _ = pr.PpidWithContext(ctx)
	p.Threads, _ = pr.NumThreadsWithContext(ctx)
	if st, err := pr.StatusWithContext(ctx); err == nil && len(st) > 0 {
		p.State = st[0]
	}
	if m, err := pr.MemoryInfoWithContext(ctx); err == nil {
		p.RSS = float64(m.RSS)
	}
	return p, true
}

// cpuPercents fills CPUPercent from the CPU time each process used since
// the previous run, and remembers this run's. It returns the interval, or
// 0 when there was no previous run: each process's lifetime average is
// used then.
func (p *Probe) cpuPercents(list []Proc, now time.Time) time.Duration {
	interval := now.Sub(p.at)
	if p.prev == nil {
		interval = 0
	}
	next := make(map[int32]cpuMark, len(list))
	for i := range list {
		pr := &list[i]
		next[pr.PID] = cpuMark{created: pr.Created, seconds: pr.CPUSeconds}
		pr.CPUPercent = cpuPercent(p.prev[pr.PID], *pr, interval, now)
	}
	p.prev, p.at = next, now
	return interval
}

// cpuPercent is the CPU use of pr in percent of one core: over interval
// when prev is the same process's mark from one interval ago, otherwise
// over the process's life.
func cpuPercent(prev cpuMark, pr Proc, interval time.Duration, now time.Time) float64 {
	if interval > 0 && prev.created == pr.Created && prev.seconds <= pr.CPUSeconds {
		return 100 * (pr.CPUSeconds - prev.seconds) / interval.Seconds()
	}
	life := now.Sub(time.UnixMilli(pr.Created)).Seconds()
	if pr.Created == 0 || life <= 0 {
		return 0
	}
	return 100 * pr.CPUSeconds / life
}

// Summarize makes the report from processes whose CPUPercent is known:
// totals, the top processes as entities and, per name among the top, the
// CPU, memory and count of all processes of that name.
func Summarize(list []Proc, cfg Config) sdk.Report {
	r := sdk.Report{Status: sdk.StatusOK}
	var threads, zombies, running float64
	for _, p := range list {
		threads += float64(p.Threads)
		switch p.State {
		case process.Zombie:
			zombies++
		case process.Running:
			running++
		}
	}
	r.Gauge("procs.count", float64(len(list)), nil)
	r.Gauge("procs.running", running, nil)
	r.Gauge("procs.zombies", zombies, nil)
	r.Gauge("procs.threads", threads, nil)

	key := func(p Proc) float64 { return p.CPUPercent }
	if cfg.SortBy == "rss" {
		key = func(p Proc) float64 { return p.RSS }
	}
	ranked := slices.Clone(list)
	slices.SortStableFunc(ranked, func(a, b Proc) int {
		return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(a.PID, b.PID))
	})
	top := ranked[:min(cfg.Top, len(ranked))]

	byName := map[string]*struct{ cpu, rss, n float64 }{}
	for _, p := range top {
		byName[p.Name] = &struct{ cpu, rss, n float64 }{}
	}
	for _, p := range list {
		if s := byName[p.Name]; s != nil {
			s.cpu += p.CPUPercent
			s.rss += p.RSS
			s.n++
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s, l := byName[n], map[string]string{"name": n}
		r.Gauge("procs.name.cpu_percent", round(s.cpu), l)
		r.Gauge("procs.name.rss_bytes", s.rss, l)
		r.Gauge("procs.name.count", s.n, l)
	}

	for _, p := range top {
		health := sdk.StatusOK
		if p.CPUPercent >= cfg.CPUWarnPercent || (cfg.RSSWarnBytes > 0 && p.RSS >= cfg.RSSWarnBytes) {
			health = sdk.StatusWarn
		}
		r.Worst(health)
		r.Add(sdk.Entity{
			Kind:   "process",
			ID:     strconv.Itoa(int(p.PID)),
			Name:   p.Name,
			State:  p.State,
			Health: health,
			Attrs: map[string]any{
				"pid":         p.PID,
				"ppid":        p.PPID,
				"cpu_percent": round(p.CPUPercent),
				"rss_bytes":   p.RSS,
				"threads":     p.Threads,
				"started":     time.UnixMilli(p.Created).UTC().Format(time.RFC3339),
			},
		})
	}
	if cfg.ZombiesWarn > 0 && zombies >= float64(cfg.ZombiesWarn) {
		r.Worst(sdk.StatusWarn)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%d processes", len(list))
	if zombies > 0 {
		fmt.Fprintf(&b, ", %d zombie", int(zombies))
	}
	if len(top) > 0 {
		t := top[0]
		fmt.Fprintf(&b, "; top by %s: %s (pid %d, %.1f%% CPU, %s)", cfg.SortBy, t.Name, t.PID, t.CPUPercent, mib(t.RSS))
	}
	r.Message = b.String()
	return r
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
