package alert

import (
	"context"
	"encoding/json"
	"time"

	"github.com/barbossa-agent/barbossa/core/store"
)

// Retry backoff of a message its receiver refused or did not answer: 1s,
// 2s, 4s, ... up to maxBackoff, so a receiver that was down for ten
// minutes gets its queue within a minute of coming back.
const (
	firstBackoff = time.Second
	maxBackoff   = time.Minute
)

func backoff(attempts int) time.Duration {
	d := firstBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// deliver sends rc's outbox in order, one message at a time, each within
// the receiver's timeout, retrying with backoff until delivered or
// expired. It is rc's own goroutine: a receiver that hangs holds up only
// its own queue.
func (e *Engine) deliver(ctx context.Context, rc *receiver) {
	for {
		e.mu.Lock()
		var m *Message
		if len(rc.queue) > 0 {
			m = rc.queue[0]
		}
		cfg, s := rc.cfg, rc.sender // a reload may change them
		e.mu.Unlock()
		if m == nil {
			select {
			case <-ctx.Done():
				return
			case <-rc.wakeup:
				continue
			}
		}
		now := time.Now()
		if expiry := m.Created.Add(cfg.Expire.Duration); !now.Before(expiry) {
			e.finish(rc, m, false)
			e.log.Warn("notification expired undelivered", "receiver", rc.name, "alerts", len(m.Alerts),
				"created", m.Created, "attempts", m.Attempts, "last_error", m.LastError)
			continue
		}
		if wait := m.NextAttempt.Sub(now); wait > 0 {
			t := time.NewTimer(min(wait, m.Created.Add(cfg.Expire.Duration).Sub(now)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-rc.wakeup: // a reload: look again
				t.Stop()
			}
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, cfg.Timeout.Duration)
		err := s.send(sctx, m)
		cancel()
		if err == nil {
			e.finish(rc, m, true)
			continue
		}
		if ctx.Err() != nil {
			return // shutting down: the message stays queued for the next run
		}
		e.retry(rc, m, err)
	}
}

// finish takes m off rc's outbox: delivered, or expired. The store
// forgets it before the counters move, so a delivery the API reports is
// one a restart will not repeat.
func (e *Engine) finish(rc *receiver, m *Message, delivered bool) {
	if e.st != nil {
		if err := e.st.WriteAlerts(store.AlertWrite{Outbox: map[string][]byte{m.ID: nil}}); err != nil {
			e.log.Error("notification done but still queued in the store: a restart now would send it again", "receiver", rc.name, "err", err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(rc.queue) > 0 && rc.queue[0] == m {
		rc.queue = rc.queue[1:]
	}
	if delivered {
		rc.stats.sent++
		rc.stats.lastSuccess = time.Now()
	} else {
		rc.stats.expired++
	}
}

// retry counts a failed attempt and schedules the next.
func (e *Engine) retry(rc *receiver, m *Message, err error) {
	e.mu.Lock()
	m.Attempts++
	m.LastError = err.Error()
	m.NextAttempt = time.Now().Add(backoff(m.Attempts))
	rc.stats.failed++
	rc.stats.lastError = m.LastError
	b, merr := json.Marshal(m)
	e.mu.Unlock()
	e.log.Warn("notification failed, will retry", "receiver", rc.name, "attempt", m.Attempts, "next", m.NextAttempt, "err", err)
	if e.st != nil && merr == nil {
		if err := e.st.WriteAlerts(store.AlertWrite{Outbox: map[string][]byte{m.ID: b}}); err != nil {
			e.log.Error("notification retry state not saved", "receiver", rc.name, "err", err)
		}
	}
}
