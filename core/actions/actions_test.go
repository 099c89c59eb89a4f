package actions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// The agent's TestActionsOnRealSystems drives these through the portal
// (a unit restarted on a booted systemd, containers stopped and started);
// this checks the Engine side's own refusals against a real dockerd.
func TestContainerOnRealDocker(t *testing.T) {
	d := testenv.StartDocker(t)
	web := d.Container(t, testenv.ContainerSpec{Name: "web-1"})
	db := d.Container(t, testenv.ContainerSpec{Name: "db"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := Container(ctx, d.Socket(), "web-1", "restart")
	if err != nil || res.Result != "done" || res.Message != "container "+web.ID[:12] {
		t.Fatalf("restart web-1: %+v, %v", res, err)
	}
	if res, err := Container(ctx, d.Socket(), "web-1", "start"); err != nil || res.Message != "already running" {
		t.Errorf("start a running web-1: %+v, %v", res, err)
	}
	// The Engine takes ID prefixes and names alike in its paths: only an
	// exact name is a target, so a name grant cannot reach db by its ID.
	for _, name := range []string{db.ID[:12], db.ID, "d", "web-", "/db", "nope"} {
		if _, err := Container(ctx, d.Socket(), name, "stop"); !errors.Is(err, ErrNoTarget) {
			t.Errorf("stop %q: %v, want ErrNoTarget", name, err)
		}
	}
	if !d.Inspect(t, "db").State.Running {
		t.Error("db was stopped by a name that is not its own")
	}
	if _, err := Container(ctx, d.Socket(), "web-1", "kill"); err == nil {
		t.Error("kill was accepted")
	}
}

func TestUnknownActionAsksNobody(t *testing.T) {
	// No bus at this address: an unknown action is refused before any call.
	_, err := Unit(context.Background(), "unix:path=/nonexistent", "x.service", "reload")
	if err == nil || err.Error() != `unknown action "reload"` {
		t.Errorf("Unit reload: %v", err)
	}
	_, err = Unit(context.Background(), "unix:path=/nonexistent", "x.service", "restart")
	if err == nil || errors.Is(err, ErrNoTarget) {
		t.Errorf("Unit with no bus: %v", err)
	}
}
