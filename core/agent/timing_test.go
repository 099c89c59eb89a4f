package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
)

// writeConfig writes cfgText to dir/barbossa.toml and loads it.
func writeConfig(t *testing.T, dir, cfgText string) *config.Config {
	t.Helper()
	file := filepath.Join(dir, "barbossa.toml")
	if err := os.WriteFile(file, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runUntilEnd runs loop in a goroutine until the test ends, and returns the
// context it gets.
func runUntilEnd(t *testing.T, loop func(context.Context)) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctx
}

// newBubbleAgent makes an agent from cfgText (written to dir/barbossa.toml)
// without running it, for tests inside a synctest bubble that drive its
// parts: Run would serve the portal on a real socket, whose I/O a bubble
// cannot wait for. The agent is closed when the test ends.
func newBubbleAgent(t *testing.T, dir, cfgText string) *Agent {
	t.Helper()
	return newBubbleAgentLogging(t, dir, cfgText, io.Discard)
}

// newBubbleAgentLogging is newBubbleAgent with its log written to w.
func newBubbleAgentLogging(t *testing.T, dir, cfgText string, w io.Writer) *Agent {
	t.Helper()
	a, err := New(writeConfig(t, dir, cfgText), slog.New(slog.NewTextHandler(w, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.sched.Stop()
		if err := a.closeAll(); err != nil {
			t.Error(err)
		}
	})
	return a
}

// TestDropInsSettle checks the drop-in watcher's timing on a fake clock: a
// new or changed pair is applied at the first poll that finds it as the
// previous poll did, so a module still being written is never loaded
// half-done; a removed one goes at the first poll that misses it.
func TestDropInsSettle(t *testing.T) {
	wasm := watProbe(t, "settle", "v1")
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		drop := filepath.Join(dir, "probes.d")
		if err := os.MkdirAll(drop, 0o755); err != nil {
			t.Fatal(err)
		}
		a := newBubbleAgent(t, dir, "[agent]\ndata_dir = \"data\"\nprobes_dir = \"probes.d\"\n")
		runUntilEnd(t, a.loop) // polls every dropInPoll from now
		t0 := time.Now()
		// loaded reports, once the watcher has done what it can at this
		// instant, whether the drop-in runs.
		loaded := func() bool {
			synctest.Wait()
			a.mu.RLock()
			defer a.mu.RUnlock()
			_, ok := a.probes["settle"]
			return ok
		}
		at := func(d time.Duration) { time.Sleep(time.Until(t0.Add(d))) }
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(drop, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		write("settle.toml", []byte("interval = \"1m\"\n"))
		write("settle.wasm", wasm[:len(wasm)/2]) // the copy is under way
		at(dropInPoll + dropInPoll/2)            // the first poll saw half a module
		write("settle.wasm", wasm)               // and it is whole now
		at(2*dropInPoll - time.Nanosecond)
		if loaded() {
			t.Fatal("loaded before the second poll")
		}
		at(2 * dropInPoll)
		if loaded() {
			t.Fatal("loaded at the first poll that saw the whole module; want it to settle for one more")
		}
		at(3*dropInPoll - time.Nanosecond)
		if loaded() {
			t.Fatal("loaded between polls")
		}
		at(3 * dropInPoll)
		if !loaded() {
			t.Fatal("not loaded at the poll that found the module as the previous one did")
		}

		if err := os.Remove(filepath.Join(drop, "settle.toml")); err != nil {
			t.Fatal(err)
		}
		at(4*dropInPoll - time.Nanosecond)
		if !loaded() {
			t.Fatal("removed before the next poll")
		}
		at(4 * dropInPoll)
		if loaded() {
			t.Fatal("still running at the first poll after its removal")
		}
	})
}

// TestStalenessOnFakeClock checks that a probe that stops reporting goes
// stale at its stale_after, with no run to say so, and that the agent's
// change counter moves then, so the portal's cached views follow.
func TestStalenessOnFakeClock(t *testing.T) {
	theFlaky.failing.Store(false)
	synctest.Test(t, func(t *testing.T) {
		// One run, at start: nothing but time changes after it.
		a := newBubbleAgent(t, t.TempDir(), "[agent]\ndata_dir = \"data\"\n"+
			"[[probe]]\nname = \"flaky\"\ninterval = \"1h\"\ntimeout = \"1s\"\nstale_after = \"3s\"\n")
		// The watcher sleeps until the next moment a probe can go stale.
		ctx := runUntilEnd(t, a.watchStaleness)
		t0 := time.Now()
		a.sched.Start(ctx)
		synctest.Wait()
		fresh := func() bool {
			_, ok, err := a.Latest("flaky")
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		at := func(d time.Duration) {
			time.Sleep(time.Until(t0.Add(d)))
			synctest.Wait()
		}
		if !fresh() {
			t.Fatal("the report is not fresh after the run")
		}
		v := a.Version()
		at(3 * time.Second)
		if !fresh() || a.Version() != v {
			t.Errorf("at stale_after: fresh %v, version %d; want true, %d", fresh(), a.Version(), v)
		}
		// Just past stale_after the report is stale and the job's health
		// too (its stale_after is the same): the watcher wakes then and
		// moves the counter, once.
		at(3*time.Second + time.Nanosecond)
		if fresh() {
			t.Error("the report is served as fresh past its stale_after")
		}
		if a.Version() != v+1 {
			t.Errorf("version %d just after the report went stale; want %d", a.Version(), v+1)
		}
		at(10 * time.Second)
		if a.Version() != v+1 {
			t.Errorf("version %d with nothing changing; want it to stay %d", a.Version(), v+1)
		}
	})
}
