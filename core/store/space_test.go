//go:build linux

package store

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// waitWritable flushes until the store writes again: it looks at the free
// space every spaceCheckEvery (5 s) of real time, since Badger runs on the
// real clock and real files, which no fake clock drives.
func waitWritable(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(3 * spaceCheckEvery)
	for s.Flush() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the store did not write again: %+v", s.Health())
		}
		time.Sleep(100 * time.Millisecond) // real time: see above
	}
}

// The store on a filesystem that fills up: it stops writing without a
// crash (a full tmpfs answers Badger's mmap writes with SIGBUS, which
// killed the agent, issue #8 finding 4), serves what it has, counts what it
// drops, writes again when space returns, and opens on a full disk, with
// and without a store already there.
func TestFullDisk(t *testing.T) {
	mnt := testenv.Tmpfs(t, 48<<20)
	dir := filepath.Join(mnt, "store")
	var logs testenv.LogBuffer
	opts := Options{Dir: dir, MinFree: 8 << 20, FlushInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if h := s.Health(); !h.Writable || h.MinFreeBytes != 8<<20 {
		t.Fatalf("health at start: %+v", h)
	}
	if _, err := os.Stat(filepath.Join(dir, reserveName)); err != nil {
		t.Errorf("no space reserve while writing: %v", err)
	}
	t0 := time.Now().Add(-time.Minute)
	for i := range 10 {
		s.Put(record("p", t0.Add(time.Duration(i)*time.Second), gauge("p.v", float64(i), nil)))
	}
	mustFlush(t, s) // nothing pending: the store is idle while the disk fills

	fill := testenv.Fill(t, mnt, 0)
	if free := testenv.FreeBytes(t, mnt); free != 0 {
		t.Fatalf("%d bytes left after filling", free)
	}
	s.Put(record("p", time.Now(), gauge("p.v", 100, nil)))
	if err := s.Flush(); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("Flush on a full disk = %v, want ErrNotWritable", err)
	}
	h := s.Health()
	if h.Writable || !strings.Contains(h.Error, "disk nearly full") || !strings.Contains(h.Error, "stored history is served") {
		t.Errorf("health on a full disk: %+v", h)
	}
	if got, err := s.Query(Query{Name: "p.v", From: t0}); err != nil || len(got) != 1 || len(got[0].Points) != 10 {
		t.Errorf("history while full: %+v, %v", got, err)
	}
	for range 3 {
		s.Put(record("p", time.Now(), gauge("p.v", 100, nil), gauge("p.w", 1, nil)))
	}
	_ = s.Flush()
	if d := s.Drops("p"); d[DropDiskFull] < 6 {
		t.Errorf("drops while full: %v", d)
	}
	if h := s.Health(); h.Dropped < 3 {
		t.Errorf("records dropped while full: %+v", h)
	}
	if n := strings.Count(logs.String(), "store not writing"); n != 1 {
		t.Errorf("stopping logged %d times, want once:\n%s", n, logs.String())
	}

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	waitWritable(t, s)
	s.Put(record("p", time.Now(), gauge("p.v", 200, nil)))
	mustFlush(t, s)
	if got, _ := s.Query(Query{Name: "p.v", From: t0}); len(got) != 1 || len(got[0].Points) != 11 || got[0].Points[10].V != 200 {
		t.Errorf("after space returned: %+v", got)
	}
	if !strings.Contains(logs.String(), "store writing again") {
		t.Errorf("resuming not logged:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening on a full disk: read-only, with its history.
	fill = testenv.Fill(t, mnt, 0)
	s, err = Open(opts)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	if h := s.Health(); h.Writable || !strings.Contains(h.Error, "stored history is served") {
		t.Errorf("health when opened full: %+v", h)
	}
	if got, err := s.Query(Query{Name: "p.v", From: t0}); err != nil || len(got) != 1 || len(got[0].Points) != 11 {
		t.Errorf("history when opened full: %+v, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A new store on a full disk: an empty stand-in until there is room.
	opts.Dir = filepath.Join(mnt, "fresh")
	s, err = Open(opts)
	if err != nil {
		t.Fatalf("Open of a new store on a full disk: %v", err)
	}
	if h := s.Health(); h.Writable || !strings.Contains(h.Error, "stored history unavailable") {
		t.Errorf("health of a new store on a full disk: %+v", h)
	}
	if got, err := s.Query(Query{Name: "p.v"}); err != nil || len(got) != 0 {
		t.Errorf("stand-in query: %+v, %v", got, err)
	}
	s.Put(record("p", time.Now(), gauge("p.v", 1, nil)))
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	waitWritable(t, s)
	s.Put(record("p", time.Now(), gauge("p.v", 2, nil)))
	mustFlush(t, s)
	if got, _ := s.Query(Query{Name: "p.v"}); len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].V != 2 {
		t.Errorf("the new store after space returned: %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Query(Query{Name: "p.v"}); len(got) != 1 || len(got[0].Points) != 1 {
		t.Errorf("the new store is not on disk: %+v", got)
	}
}
