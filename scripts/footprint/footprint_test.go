package footprint

import (
	"bytes"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/core/config"
)

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS <= 0 || p.Peak < p.RSS || p.RSSAnon <= 0 || p.RSSAnon+p.RSSFile > p.RSS {
		t.Errorf("rss %d (anon %d, file %d), peak %d", p.RSS, p.RSSAnon, p.RSSFile, p.Peak)
	}
	// Burn 50 ms of CPU time for the kernel to count, measured by getrusage
	// rather than the wall clock: on a loaded machine 50 ms of wall time can
	// hold less than one clock tick of CPU.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for start := cpu(); cpu()-start < 50*time.Millisecond; {
	}
	q, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if q.CPU <= p.CPU {
		t.Errorf("CPU time did not grow over 50 ms of work: %v, then %v", p.CPU, q.CPU)
	}
}

const wrkOut = `Running 5s test @ http://127.0.0.1:8080/api/v1/status
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms    1.10ms  20.45ms   89.12%
    Req/Sec     8.40k     1.02k   10.10k    70.00%
  Latency Distribution
     50%  680.00us
     75%    1.20ms
     90%    2.10ms
     99%    5.50ms
  83610 requests in 5.00s, 1.02GB read
Requests/sec:  16722.10
Transfer/sec:    208.33MB
`

func TestParseWrk(t *testing.T) {
	l, err := ParseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	if l.RPS != 16722.10 || l.P99 != 5500*time.Microsecond {
		t.Errorf("got %+v", l)
	}
	errs := strings.Replace(wrkOut, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1)
	if _, err := ParseWrk(errs); err == nil || !strings.Contains(err.Error(), "Non-2xx") {
		t.Errorf("non-2xx responses: err = %v", err)
	}
	if _, err := ParseWrk("Requests/sec: 12\n"); err == nil {
		t.Error("no latency distribution: no error")
	}
	if _, err := ParseWrk(strings.Replace(wrkOut, "5.50ms", "5.50parsecs", 1)); err == nil {
		t.Error("bad unit: no error")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestTable(t *testing.T) {
	cols := []Column{{"RSS", MB}, {"CPU", Percent}}
	got := Table(cols, []Row{
		{Name: "a", Values: [][]float64{{30e6, 10e6, 20e6}, {0.5}}},
		{Name: "b", Values: [][]float64{{math.NaN()}, nil}},
	})
	want := "| subject | RSS | CPU |\n|---|---|---|\n" +
		"| a | **20.0 MB** (10.0 MB–30.0 MB) | 0.50 % |\n" +
		"| b | — | — |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOut)
	f.Fuzz(func(t *testing.T, s string) {
		if l, err := ParseWrk(s); err == nil && (l.P99 < 0 || math.IsNaN(l.RPS)) {
			t.Errorf("bad load %+v from %q", l, s)
		}
	})
}

// TestWithPProf: the config footprint -pprof writes is one the agent
// accepts, with the profiler on behind the token.
func TestWithPProf(t *testing.T) {
	var cfg map[string]any
	if _, err := toml.DecodeFile("../../barbossa.toml", &cfg); err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if err := toml.NewEncoder(&plain).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if c, err := config.Parse("barbossa.toml", plain.Bytes()); err != nil || c.Portal.PProf {
		t.Fatalf("the default config: pprof %v, %v", c != nil && c.Portal.PProf, err)
	}
	cfg["portal"].(map[string]any)["token_file"] = "/nonexistent" // not both: WithPProf's token replaces it
	WithPProf(cfg, "tok3n")
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("barbossa.toml", b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !c.Portal.PProf || c.Portal.Token != "tok3n" || c.Portal.TokenFile != "" {
		t.Errorf("[portal] pprof %v, token %q, token_file %q; want pprof on with the token", c.Portal.PProf, c.Portal.Token, c.Portal.TokenFile)
	}

	none := map[string]any{}
	WithPProf(none, "t")
	if p, _ := none["portal"].(map[string]any); p["pprof"] != true || p["token"] != "t" {
		t.Errorf("a config with no [portal]: %v", none)
	}
}
