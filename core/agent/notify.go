package agent

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Under systemd (Type=notify, packaging/barbossa.service) the agent tells
// the service manager when it is ready, reloading and stopping, and pings
// its watchdog. Outside systemd NOTIFY_SOCKET is unset and every message
// is dropped at no cost.

// notifier sends sd_notify(3) messages: "READY=1", "WATCHDOG=1", ...
type notifier interface {
	Notify(state string)
}

// systemdNotifier is the real one: go-systemd's sd_notify, which writes
// to the datagram socket named by NOTIFY_SOCKET.
type systemdNotifier struct{}

func (systemdNotifier) Notify(state string) {
	_, _ = daemon.SdNotify(false, state) // nothing to do if the manager is gone
}

// watchdogInterval is how often the service manager wants a ping
// (WatchdogSec=, passed as WATCHDOG_USEC to this process), or 0.
func watchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}

// watchdog pings the service manager every half of its watchdog interval
// while alive says the agent's loops still answer, until ctx is done. A
// wedged agent stops pinging, and systemd restarts it after the interval.
func watchdog(ctx context.Context, every time.Duration, n notifier, alive func() bool) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if alive() {
			n.Notify(daemon.SdNotifyWatchdog)
		}
	}
}
