package footprint

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A comm with spaces and a ')' must not shift the fields.
	line := "4242 (bar bossa) (x)) S 1 4242 4242 0 -1 4194560 2405 0 0 0 123 45 0 0 20 0 12 0 9876 1000 200 18446744073709551615\n"
	got, err := ParseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 168 * ClockTick; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 abc 1 0"} {
		if _, err := ParseStatCPU(bad); err == nil {
			t.Errorf("ParseStatCPU(%q) did not fail", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tbarbossa\nVmHWM:\t  133400 kB\nVmRSS:\t   77360 kB\nRssAnon:\t   58476 kB\nRssFile:\t   23852 kB\nThreads:\t12\n"
	var p Proc
	if err := ParseStatus(strings.NewReader(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Peak != 133400<<10 || p.RSS != 77360<<10 || p.RSSAnon != 58476<<10 || p.RSSFile != 23852<<10 {
		t.Errorf("got %+v", p)
	}
	for _, bad := range []string{"VmHWM:\t1 kB\n", "VmRSS:\t1 kB\nVmHWM:\tlots kB\n", "VmRSS:\t1 MB\nVmHWM:\t1 kB\n"} {
		if err := ParseStatus(strings.NewReader(bad), &Proc{}); err == nil {
			t.Errorf("ParseStatus(%q) did not fail", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS <= 0 || p.Peak < p.RSS {
		t.Errorf("rss %d, peak %d", p.RSS, p.Peak)
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

func FuzzParseStatCPU(f *testing.F) {
	f.Add("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1")
	f.Add("1 (a) b)) S")
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseStatCPU(s); err == nil && d < 0 {
			t.Errorf("negative cpu %v from %q", d, s)
		}
	})
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOut)
	f.Fuzz(func(t *testing.T, s string) {
		if l, err := ParseWrk(s); err == nil && (l.P99 < 0 || math.IsNaN(l.RPS)) {
			t.Errorf("bad load %+v from %q", l, s)
		}
	})
}
