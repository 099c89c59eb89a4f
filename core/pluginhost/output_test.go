package pluginhost

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/sdk"
)

func TestLineWriter(t *testing.T) {
	logs := &logBuf{}
	o := newTestOutput(t, logs)
	w := o.stream("stdout")
	for _, chunk := range []string{"one\ntw", "o\n", "\n", "three", "\r\n", strings.Repeat("x", maxLine+10)} {
		w.Write([]byte(chunk))
	}
	got := logs.String()
	for _, want := range []string{"msg=one probe=p stream=stdout", "msg=two ", "msg=three ", "msg=" + strings.Repeat("x", 20)} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 4 {
		t.Errorf("%d records, want 4 (the empty line is skipped, the endless one cut):\n%s", n, got)
	}
	if len(w.buf) != 0 {
		t.Errorf("%d bytes held back; a line past maxLine is logged (cut) at once", len(w.buf))
	}
}

// newTestOutput returns an output whose records go to logs, through a
// hostfuncs.Caller as a Probe's do.
func newTestOutput(t *testing.T, logs *logBuf) *output {
	t.Helper()
	h := hostfuncs.New(slog.New(slog.NewTextHandler(logs, nil)))
	t.Cleanup(func() { h.Close() })
	c, err := h.NewCaller("p", hostfuncs.Grants{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newOutput(c)
}

// TestOutputSharesTheProbeLogLimit: a plugin's output and its log host
// calls count against one limit of records a minute (hostfuncs' 120).
func TestOutputSharesTheProbeLogLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logBuf{}
		h := hostfuncs.New(slog.New(slog.NewTextHandler(logs, nil)))
		defer h.Close()
		c, _ := h.NewCaller("p", hostfuncs.Grants{}, nil)
		o := newOutput(c)
		for range 100 {
			c.Log(sdk.LevelInfo, "logged")
		}
		for range 100 {
			o.line("stderr", []byte("chatty"))
		}
		if n := strings.Count(logs.String(), "msg=chatty"); n != 20 {
			t.Errorf("%d output lines logged after 100 log messages, want the 20 left of 120", n)
		}
		// A minute on, a new window says how many were dropped.
		time.Sleep(time.Minute)
		o.line("stderr", []byte("next"))
		if got := logs.String(); !strings.Contains(got, `msg="probe log messages dropped" probe=p dropped=80 limit_per_minute=120`) || !strings.Contains(got, "msg=next") {
			t.Errorf("a minute on: log lacks the drop count or the new line:\n%s", got)
		}
	})
}

func TestStderrLevelsAndLastWords(t *testing.T) {
	for _, tc := range []struct {
		lines     []string
		wantLevel string
		lastWords string
	}{
		{[]string{"starting", "panic: boom", "", "goroutine 1 [running]:"}, "level=ERROR msg=\"panic: boom\"", ": panic: boom"},
		{[]string{"fatal error: concurrent map writes"}, "level=ERROR", ": fatal error: concurrent map writes"},
		{[]string{`{"@level":"warn","@message":"plugin init error","@module":"go-plugin","error":"x"}`}, `level=WARN msg="plugin init error" probe=p module=go-plugin error=x`, `: {"@level":"warn","@message":"plugin init error","@module":"go-plugin","error":"x"}`},
		{[]string{"first", "last one", "  "}, "level=INFO msg=\"last one\"", ": last one"},
		{nil, "", ""},
	} {
		logs := &logBuf{}
		o := newTestOutput(t, logs)
		for _, l := range tc.lines {
			o.line("stderr", []byte(l))
		}
		if !strings.Contains(logs.String(), tc.wantLevel) {
			t.Errorf("%q: log lacks %q:\n%s", tc.lines, tc.wantLevel, logs.String())
		}
		if got := o.lastWords(); got != tc.lastWords {
			t.Errorf("%q: lastWords = %q, want %q", tc.lines, got, tc.lastWords)
		}
	}
}

func TestHCLogBridge(t *testing.T) {
	logs := &logBuf{}
	b := hclogBridge{slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	b.Write([]byte(`{"@level":"info","@message":"plugin process exited","@module":"go-plugin","id":"12"}` + "\n" +
		`{"@level":"debug","@message":"panic: relayed from stderr","@module":"go-plugin.testplugin"}` + "\n"))
	got := logs.String()
	if !strings.Contains(got, `level=DEBUG msg="go-plugin: plugin process exited" module=go-plugin id=12`) || strings.Contains(got, "relayed") {
		t.Errorf("bridge wrote:\n%s", got)
	}
}
