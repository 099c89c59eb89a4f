//go:build linux && footprint

package footprint

// TestFootprint is the measurement behind `make footprint`. It is behind
// the footprint build tag because it runs for minutes and is a measurement,
// not a test: scripts/footprint.sh runs it as
//
//	go test -tags footprint -run TestFootprint -timeout 0 -v ./scripts/footprint -args -minutes 10
//
// Every subject (an agent binary with a config) runs -runs times side by
// side, each agent a separate process with its own data folder:
//
//  1. cold start, one agent at a time: a fresh data folder, so the WASM
//     compilation cache is empty; the peak RSS (VmHWM) read at the end
//     includes it;
//  2. all agents idle together; at -minutes after the last start, RSS, the
//     Go heap in use, and the CPU time (utime+stime) used over the window
//     before it (5 minutes, or half of -minutes when shorter);
//  3. wrk against each agent's /api/v1/status in turn, and against a bare
//     net/http server (in this process) serving the same bytes;
//  4. each agent is stopped and started again on its data folder (warm
//     cache), one at a time: time from exec to the portal answering
//     /healthz, and to every probe's first report.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

var (
	minutes = flag.Float64("minutes", 10, "minutes each agent runs before its RSS is read; idle CPU is measured over the last 5 (or half of this, when shorter)")
	runs    = flag.Int("runs", 3, "agents per subject, run side by side; the table shows medians")
	configs = flag.String("configs", "default,system,real", "configs, comma-separated: default (barbossa.toml on this host), system (the system probe only), real (barbossa.toml against the test environment's systemd and dockerd)")
	bins    = flag.String("bin", "bin/barbossa", "agent binaries, comma-separated, each PATH or NAME=PATH, relative to the repository (side-by-side before/after)")
	peers   = flag.Bool("peers", false, "also measure prometheus-node-exporter, glances and netdata, one of each, when installed (optional)")
	wrkTime = flag.Duration("wrk", 10*time.Second, "how long wrk loads each status endpoint")
	outFile = flag.String("out", "", "also write the report to this file")
	pprofTo = flag.String("pprof", "", "turn on [portal] pprof (with a token) in every agent's config and save into this folder each agent's CPU profile over the idle-CPU window (NAME.cpu.pprof) and heap profile right after (NAME.heap.pprof); the idle CPU then includes the profiler's own cost")
)

// repo is the repository's root, from this package's folder.
const repo = "../.."

// columns of the table, in the order subject.values holds them.
var columns = []Column{
	{"RSS after run", MB},
	{"peak RSS (cold start)", MB},
	{"idle CPU (one core)", Percent},
	{"Go heap in use", MB},
	{"status req/s", PerSec},
	{"status p99", Millis},
	{"cold start → all probes reported", Millis},
	{"warm start → portal", Millis},
	{"warm start → all probes reported", Millis},
}

const (
	colRSS = iota
	colPeak
	colCPU
	colHeap
	colRPS
	colP99
	colColdProbes
	colWarmPortal
	colWarmProbes
)

// subject is one row of the table: a binary with a config, or a peer.
type subject struct {
	name   string
	procs  []*proc
	values [][]float64 // [column][run]
}

func (s *subject) set(col, run int, v float64) {
	if s.values == nil {
		s.values = make([][]float64, len(columns))
	}
	for len(s.values[col]) <= run {
		s.values[col] = append(s.values[col], math.NaN())
	}
	s.values[col][run] = v
}

// proc is one measured process: an agent or a peer.
type proc struct {
	name    string
	argv    []string
	env     []string
	dir     string
	addr    string // host:port of its HTTP server
	token   string // the portal's token, with -pprof
	health  string // path that answers 200 once it serves
	status  string // path wrk loads
	probes  bool   // an agent: wait for every probe's first report
	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
	cpu0    time.Duration
}

func TestFootprint(t *testing.T) {
	if *runs < 1 || *minutes <= 0 {
		t.Fatalf("-runs %d -minutes %g: both must be positive", *runs, *minutes)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is not installed (apt-get install wrk; scripts/footprint.sh does it)")
	}
	base := readConfig(t, filepath.Join(repo, "barbossa.toml"))
	want := strings.Split(*configs, ",")
	var env *realEnv
	if slices.Contains(want, "real") {
		env = startRealEnv(t)
	}

	var subjects []*subject
	for _, b := range strings.Split(*bins, ",") {
		name, path, ok := strings.Cut(b, "=")
		if !ok {
			name, path = filepath.Base(b), b
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(repo, path)
		}
		path, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("-bin %s: %v (make build)", b, err)
		}
		for _, c := range want {
			s := &subject{name: name + ", " + c}
			for i := range *runs {
				s.procs = append(s.procs, newAgent(t, path, fmt.Sprintf("%s-%s-%d", name, c, i), c, base, env))
			}
			subjects = append(subjects, s)
		}
	}
	if *peers {
		subjects = append(subjects, peerSubjects(t)...)
	}

	// 1. Cold starts, one at a time, so each has the CPU to itself.
	for _, s := range subjects {
		for i, p := range s.procs {
			d, err := p.start(t, 2*time.Minute)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if p.probes {
				s.set(colColdProbes, i, d.probes.Seconds())
			}
			t.Logf("%s: cold start: portal %v, probes %v", p.name, d.portal.Round(time.Millisecond), d.probes.Round(time.Millisecond))
		}
	}

	// 2. Idle together.
	run := time.Duration(*minutes * float64(time.Minute))
	window := min(5*time.Minute, run/2)
	end := time.Now().Add(run)
	t.Logf("all started; reading RSS at %s, CPU over the %v before", end.Format(time.TimeOnly), window)
	time.Sleep(time.Until(end.Add(-window))) // real agents' idle CPU and RSS: only the real clock measures them
	var profiling sync.WaitGroup
	for _, s := range subjects {
		for _, p := range s.procs {
			pr := p.read(t)
			p.cpu0 = pr.CPU
			if p.token != "" {
				profiling.Go(func() {
					path := fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(window.Seconds()))
					if err := p.saveProfile(path, p.name+".cpu.pprof", window+time.Minute); err != nil {
						t.Errorf("%s: %v", p.name, err)
					}
				})
			}
		}
	}
	time.Sleep(time.Until(end)) // the CPU window, on the real clock as above
	for _, s := range subjects {
		for i, p := range s.procs {
			pr := p.read(t)
			s.set(colRSS, i, float64(pr.RSS))
			s.set(colPeak, i, float64(pr.Peak))
			s.set(colCPU, i, 100*float64(pr.CPU-p.cpu0)/float64(window))
			if p.probes {
				if h, err := p.heapInUse(); err == nil {
					s.set(colHeap, i, h)
				} else {
					t.Errorf("%s: %v", p.name, err)
				}
			}
			t.Logf("%s: after %v: RSS %s (anon %s, file %s), peak %s, CPU %.2f %%", p.name,
				time.Since(p.started).Round(time.Second), MB(float64(pr.RSS)), MB(float64(pr.RSSAnon)),
				MB(float64(pr.RSSFile)), MB(float64(pr.Peak)), 100*float64(pr.CPU-p.cpu0)/float64(window))
		}
	}
	// Heap profiles once the CPU profiles are done: a running CPU profile
	// holds a buffer on the heap.
	profiling.Wait()
	for _, s := range subjects {
		for _, p := range s.procs {
			if p.token == "" {
				continue
			}
			if err := p.saveProfile("/debug/pprof/heap", p.name+".heap.pprof", time.Minute); err != nil {
				t.Errorf("%s: %v", p.name, err)
			}
		}
	}
	notes := describeReports(t, subjects)

	// 3. Throughput, one endpoint at a time.
	var bare []Row
	for _, s := range subjects {
		for i, p := range s.procs {
			l, err := wrk("http://"+p.addr+p.status, p.token)
			if err != nil && !p.probes {
				t.Logf("%s (a peer, left out): %v", p.name, err)
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", p.name, err)
				continue
			}
			s.set(colRPS, i, l.RPS)
			s.set(colP99, i, l.P99.Seconds())
		}
		if p := s.procs[0]; p.probes {
			bare = append(bare, bareServer(t, s.name, p))
		}
	}

	// 4. Warm starts, one at a time.
	for _, s := range subjects {
		for i, p := range s.procs {
			p.stop(t)
			if !p.probes {
				continue
			}
			d, err := p.start(t, time.Minute)
			if err != nil {
				t.Errorf("%s: warm start: %v", p.name, err)
				continue
			}
			s.set(colWarmPortal, i, d.portal.Seconds())
			s.set(colWarmProbes, i, d.probes.Seconds())
			p.stop(t)
		}
	}

	var rows []Row
	for _, s := range subjects {
		rows = append(rows, Row{Name: s.name, Values: s.values})
	}
	rows = append(rows, bare...)
	load, _ := os.ReadFile("/proc/loadavg")
	report := fmt.Sprintf("%s\nMedians of %d agents per row run side by side (range in brackets); RSS after %g min, idle CPU over the %v before; wrk -t2 -c16 -d%v --latency on each status endpoint in turn. Load average at the end: %s%s",
		Table(columns, rows), *runs, *minutes, window, *wrkTime, strings.TrimSpace(string(load)), notes)
	fmt.Println("\n" + report)
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// readConfig decodes a TOML file into plain maps, to be edited and written
// again for each agent.
func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if _, err := toml.DecodeFile(path, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// realEnv is the test environment's systemd and dockerd, which the "real"
// config points the agent at.
type realEnv struct {
	bus, socket string
}

// startRealEnv boots systemd with the units of the systemd probe's
// benchmark (~160 loaded units) and starts dockerd with 20 containers in
// the states of the docker probe's benchmark.
func startRealEnv(t *testing.T) *realEnv {
	t.Helper()
	units := []testenv.Unit{{
		Name: "barbossa-bad.service", Enable: true,
		Content: "[Unit]\nDescription=a unit with a bad setting\n[Service]\nType=simple\n[Install]\nWantedBy=multi-user.target\n",
	}}
	for i := range 20 {
		units = append(units, testenv.Unit{
			Name: fmt.Sprintf("fp-%02d.service", i), Enable: true,
			Content: "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
		})
	}
	s := testenv.StartSystemd(t, units...)
	d := testenv.StartDocker(t)
	for _, spec := range []testenv.ContainerSpec{
		{Name: "web", Labels: map[string]string{"app": "web"}},
		{Name: "mem", Cmd: []string{"alloc", "16"}},
		{Name: "job", State: testenv.Exited, ExitCode: 2},
		{Name: "ok-job", State: testenv.Exited},
		{Name: "frozen", State: testenv.Paused},
		{Name: "fresh", State: testenv.Created},
		{Name: "sick", Health: testenv.Unhealthy},
		{Name: "fine", Health: testenv.Healthy},
	} {
		d.Container(t, spec)
	}
	for i := range 12 {
		d.Container(t, testenv.ContainerSpec{Name: fmt.Sprintf("fp-%02d", i)})
	}
	return &realEnv{bus: s.BusAddress(), socket: d.Socket()}
}

// newAgent prepares an agent's folder and config; it does not start it.
func newAgent(t *testing.T, bin, name, config string, base map[string]any, env *realEnv) *proc {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	cfg := copyMap(base)
	addr := freeAddr(t)
	section(cfg, "agent")["data_dir"] = filepath.Join(dir, "data")
	section(cfg, "agent")["probes_dir"] = filepath.Join(dir, "probes.d")
	section(cfg, "portal")["listen"] = addr
	p := &proc{name: name, argv: []string{bin, "run", "--config", filepath.Join(dir, "barbossa.toml")},
		dir: dir, addr: addr, health: "/healthz", status: "/api/v1/status", probes: true}
	if *pprofTo != "" {
		p.token = rand.Text()
		WithPProf(cfg, p.token)
	}
	probes, _ := cfg["probe"].([]map[string]any)
	switch config {
	case "default":
	case "system":
		probes = slices.DeleteFunc(probes, func(p map[string]any) bool { return p["name"] != "system" })
	case "real":
		p.env = []string{"DBUS_SYSTEM_BUS_ADDRESS=" + env.bus}
		for _, pr := range probes {
			if pr["name"] != "docker" {
				continue
			}
			section(pr, "config")["socket"] = env.socket
			allow := section(pr, "allow")
			grants, _ := allow["http"].([]any)
			for i, g := range grants {
				grants[i] = strings.ReplaceAll(g.(string), "/var/run/docker.sock", env.socket)
			}
		}
	default:
		t.Fatalf("-configs: unknown config %q (default, system, real)", config)
	}
	cfg["probe"] = probes
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "barbossa.toml"), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyMap deep-copies decoded TOML.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, m := range v {
			out[i] = copyMap(m)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startTimes are from exec to the portal answering and to every probe's
// first report.
type startTimes struct{ portal, probes time.Duration }

// start execs the process and waits until it serves (and, for an agent,
// until every probe has reported once).
func (p *proc) start(t *testing.T, timeout time.Duration) (startTimes, error) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "out.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return startTimes{}, err
	}
	defer log.Close()
	p.cmd = exec.Command(p.argv[0], p.argv[1:]...)
	p.cmd.Dir = p.dir
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.exited = make(chan struct{})
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return startTimes{}, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t) })

	var st startTimes
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for st.portal == 0 {
		if r, err := client.Get("http://" + p.addr + p.health); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				st.portal = time.Since(p.started)
			}
		}
		if err := p.wait(deadline, 2*time.Millisecond); err != nil {
			return st, fmt.Errorf("portal: %w", err)
		}
	}
	if !p.probes {
		return st, nil
	}
	for st.probes == 0 {
		if done, err := p.allReported(client); err != nil {
			return st, err
		} else if done {
			st.probes = time.Since(p.started)
		}
		if err := p.wait(deadline, 10*time.Millisecond); err != nil {
			return st, fmt.Errorf("first reports: %w", err)
		}
	}
	return st, nil
}

// wait sleeps d unless the process exited or the deadline passed.
func (p *proc) wait(deadline time.Time, d time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("exited: %s; log:\n%s", p.cmd.ProcessState, p.logTail())
	case <-time.After(d):
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("timed out; log:\n%s", p.logTail())
	}
	return nil
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "out.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// probeList is the part of /api/v1/probes read here.
type probeList struct {
	Probes []struct {
		Name   string `json:"name"`
		Runs   int    `json:"runs"`
		Report *struct {
			Message  string `json:"message"`
			Entities []any  `json:"entities"`
			Metrics  []any  `json:"metrics"`
		} `json:"report"`
	} `json:"probes"`
}

// get asks the agent's portal for path, with its token when it has one.
func (p *proc) get(client *http.Client, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return nil, err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	return client.Do(req)
}

// saveProfile writes the profile at path (/debug/pprof/...) into -pprof's
// folder as file.
func (p *proc) saveProfile(path, file string, timeout time.Duration) error {
	r, err := p.get(&http.Client{Timeout: timeout}, path)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, r.Status)
	}
	if err := os.MkdirAll(*pprofTo, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*pprofTo, file))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r.Body); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func (p *proc) listProbes(client *http.Client) (probeList, error) {
	var l probeList
	r, err := p.get(client, "/api/v1/probes")
	if err != nil {
		return l, err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return l, fmt.Errorf("/api/v1/probes: %s", r.Status)
	}
	return l, json.NewDecoder(r.Body).Decode(&l)
}

func (p *proc) allReported(client *http.Client) (bool, error) {
	l, err := p.listProbes(client)
	if err != nil {
		return false, nil // not serving yet
	}
	if len(l.Probes) == 0 {
		return false, fmt.Errorf("/api/v1/probes lists no probe")
	}
	for _, pr := range l.Probes {
		if pr.Runs == 0 {
			return false, nil
		}
	}
	return true, nil
}

// describeReports says what the probes of each config's first agent found,
// so the table shows whether they did real work.
func describeReports(t *testing.T, subjects []*subject) string {
	t.Helper()
	var b strings.Builder
	client := &http.Client{Timeout: 5 * time.Second}
	for _, s := range subjects {
		p := s.procs[0]
		if !p.probes {
			continue
		}
		l, err := p.listProbes(client)
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		fmt.Fprintf(&b, "\n- %s:", s.name)
		for _, pr := range l.Probes {
			if pr.Report == nil {
				fmt.Fprintf(&b, " %s (no report);", pr.Name)
				continue
			}
			fmt.Fprintf(&b, " %s %d entities, %d metrics;", pr.Name, len(pr.Report.Entities), len(pr.Report.Metrics))
		}
	}
	return "\n\nWhat the probes of each config's first agent reported:" + b.String() + "\n"
}

func (p *proc) read(t *testing.T) Proc {
	t.Helper()
	pr, err := ReadProc(p.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("%s: %v; log:\n%s", p.name, err, p.logTail())
	}
	return pr
}

// stop ends the process with SIGTERM (SIGKILL to its group after 15 s).
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Logf("%s: no exit 15 s after SIGTERM, killing it", p.name)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// heapInUse reads go_memstats_heap_inuse_bytes from the agent's /metrics.
func (p *proc) heapInUse() (float64, error) {
	r, err := p.get(http.DefaultClient, "/metrics")
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/metrics: no go_memstats_heap_inuse_bytes (%v)", sc.Err())
}

// wrk loads url; a token goes in every request's Authorization header.
func wrk(url, token string) (Load, error) {
	args := []string{"-t2", "-c16", "-d" + wrkTime.String(), "--latency", url}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return Load{}, fmt.Errorf("wrk %s: %v: %s", url, err, out)
	}
	return ParseWrk(string(out))
}

// bareServer is the yardstick for the status endpoint: a bare net/http
// server in this process writing the same bytes as p's status endpoint.
func bareServer(t *testing.T, name string, p *proc) Row {
	t.Helper()
	r, err := p.get(http.DefaultClient, p.status)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctype := r.Header.Get("Content-Type")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Shutdown(context.Background())
	row := Row{Name: fmt.Sprintf("bare net/http, the same %d bytes as %s", len(body), name), Values: make([][]float64, len(columns))}
	ld, err := wrk("http://"+l.Addr().String()+"/", "")
	if err != nil {
		t.Error(err)
		return row
	}
	row.Values[colRPS] = []float64{ld.RPS}
	row.Values[colP99] = []float64{ld.P99.Seconds()}
	return row
}

// peerSubjects are the other monitors of the table, each with its
// defaults, one of each that is installed.
func peerSubjects(t *testing.T) []*subject {
	t.Helper()
	var out []*subject
	add := func(name, bin string, status string, argv func(addr string) []string) {
		path, err := exec.LookPath(bin)
		if err != nil {
			t.Logf("peer %s: %s not installed, left out", name, bin)
			return
		}
		addr := freeAddr(t)
		out = append(out, &subject{name: name + " (peer, 1 run)", procs: []*proc{{
			name: name, argv: append([]string{path}, argv(addr)...), dir: t.TempDir(),
			addr: addr, health: status, status: status,
		}}})
	}
	add("node_exporter", "prometheus-node-exporter", "/metrics", func(addr string) []string {
		return []string{"--web.listen-address=" + addr}
	})
	add("glances", "glances", "/api/3/all", func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{"-w", "--disable-webui", "-B", host, "-p", port, "--quiet"}
	})
	add("netdata", "netdata", "/api/v1/info", func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{"-D", "-i", host, "-p", port}
	})
	return out
}
