package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// TestPendingWASM: a built-in WASM probe whose module is still loading
// fails a run at its deadline, naming why, counts no denials, and is closed
// only once the load has ended; after a failed load every run names it.
func TestPendingWASM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pw := &pendingWASM{loaded: make(chan struct{})}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := pw.Collect(ctx, sdk.Request{})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still loading") {
			t.Errorf("a run while loading: %v", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("the run returned after %v, want its 2s deadline", waited)
		}
		if n := pw.Denied(); n != 0 {
			t.Errorf("Denied() = %d while loading", n)
		}

		closed := make(chan error, 1)
		go func() { closed <- pw.Close() }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while the module was loading")
		default:
		}
		pw.err = errors.New("compile: bad module")
		close(pw.loaded)
		if err := <-closed; err != nil {
			t.Errorf("Close after a failed load: %v", err)
		}
		if _, err := pw.Collect(context.Background(), sdk.Request{}); err == nil || err.Error() != "compile: bad module" {
			t.Errorf("a run after a failed load: %v", err)
		}
	})
}
