package pluginhost

import (
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestLineWriter(t *testing.T) {
	logs := &logBuf{}
	o := newOutput(slog.New(slog.NewTextHandler(logs, nil)))
	w := o.stream("stdout")
	for _, chunk := range []string{"one\ntw", "o\n", "\n", "three", "\r\n", strings.Repeat("x", maxLine+10)} {
		w.Write([]byte(chunk))
	}
	got := logs.String()
	for _, want := range []string{"msg=one stream=stdout", "msg=two ", "msg=three ", "msg=" + strings.Repeat("x", 20)} {
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

func TestOutputLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &logBuf{}
		o := newOutput(slog.New(slog.NewTextHandler(logs, nil)))
		for range maxLinesPerMin + 50 {
			o.line("stderr", []byte("chatty"))
		}
		if n := strings.Count(logs.String(), "msg=chatty"); n != maxLinesPerMin {
			t.Errorf("%d lines logged, want %d", n, maxLinesPerMin)
		}
		// The window is a minute from its first line: a line just before
		// its end is still dropped; at its end a new window opens, says how
		// many were dropped, and logs again.
		time.Sleep(time.Minute - time.Nanosecond)
		o.line("stderr", []byte("late"))
		if strings.Contains(logs.String(), "late") || o.dropped != 51 {
			t.Errorf("within the minute: dropped = %d, log:\n%s", o.dropped, logs.String())
		}
		time.Sleep(time.Nanosecond)
		o.line("stderr", []byte("next"))
		if got := logs.String(); !strings.Contains(got, "msg=\"plugin output dropped\" lines=51 limit_per_minute=200") || !strings.Contains(got, "msg=next") {
			t.Errorf("a minute on: log lacks the drop count or the new line:\n%s", got)
		}
		if o.dropped != 0 || o.n != 1 {
			t.Errorf("new window: dropped %d, n %d; want 0, 1", o.dropped, o.n)
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
		{[]string{`{"@level":"warn","@message":"plugin init error","@module":"go-plugin","error":"x"}`}, `level=WARN msg="plugin init error" module=go-plugin error=x`, `: {"@level":"warn","@message":"plugin init error","@module":"go-plugin","error":"x"}`},
		{[]string{"first", "last one", "  "}, "level=INFO msg=\"last one\"", ": last one"},
		{nil, "", ""},
	} {
		logs := &logBuf{}
		o := newOutput(slog.New(slog.NewTextHandler(logs, nil)))
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
