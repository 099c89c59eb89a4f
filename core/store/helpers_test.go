package store

import (
	"log/slog"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// openTest opens a store in dir (a new temp dir when empty) and closes it
// when the test ends.
func openTest(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o.Dir = dir
	if o.MinFree == 0 {
		o.MinFree = 16 << 20 // a 4 MiB reserve: tests make many stores
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func mustFlush(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

// hourAgo returns an hour boundary n hours before the current one, so tests
// get bucket-aligned times that are well within every TTL.
func hourAgo(n int) time.Time {
	return time.Now().Truncate(time.Hour).Add(-time.Duration(n) * time.Hour)
}

func record(probe string, at time.Time, metrics ...sdk.Metric) Record {
	return Record{Probe: probe, Time: at, Report: sdk.Report{Status: sdk.StatusOK, Metrics: metrics}}
}

func gauge(name string, v float64, labels map[string]string) sdk.Metric {
	return sdk.Metric{Name: name, Value: v, Labels: labels}
}
