package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/barbossa-agent/barbossa/core/actions"
	"github.com/barbossa-agent/barbossa/core/store"
	"github.com/barbossa-agent/barbossa/portal"
	"github.com/barbossa-agent/barbossa/sdk"
)

// The agent performs the portal's actions itself, with its own privileges:
// not through a probe, whose grants are read-only by design.
var _ portal.Actor = (*Agent)(nil)

// actionsProbe is the probe name of action events in the store.
const actionsProbe = "actions"

// Act starts, stops or restarts a unit (systemd over D-Bus) or a container
// (Docker Engine API). The portal has checked the token and the grants.
// Every action, whatever its outcome, is recorded as an event (the portal
// logs each request, refused ones included).
func (a *Agent) Act(ctx context.Context, act portal.Action) (portal.ActionResult, error) {
	cfg := a.cfg.Portal.Actions
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout.Duration)
	defer cancel()
	start := time.Now()
	var (
		done actions.Result
		err  error
	)
	switch act.Kind {
	case "unit":
		done, err = actions.Unit(ctx, cfg.Bus, act.Target, act.Action)
	case "container":
		done, err = actions.Container(ctx, cfg.Socket, act.Target, act.Action)
	default:
		err = fmt.Errorf("unknown kind %q", act.Kind)
	}
	if errors.Is(err, actions.ErrNoTarget) {
		err = noTarget{err} // the portal's 404, with the same message
	}
	res := portal.ActionResult{Result: done.Result, Message: done.Message}
	took := time.Since(start).Round(time.Millisecond)

	e := store.Event{
		Time:   start,
		Probe:  actionsProbe,
		Kind:   act.Kind,
		ID:     act.Target,
		Name:   act.Target,
		To:     act.Action,
		Health: sdk.StatusOK,
	}
	if err != nil {
		e.Health = sdk.StatusCrit
		e.Message = fmt.Sprintf("%s requested by %s failed after %s: %v", act.Action, act.Remote, took, err)
	} else {
		e.Message = fmt.Sprintf("%s requested by %s: %s in %s", act.Action, act.Remote, res.Result, took)
		if res.Message != "" {
			e.Message += " (" + res.Message + ")"
		}
	}
	a.store.AddEvent(e)
	// Written now, so the event is in the next status the portal builds.
	if ferr := a.store.Flush(); ferr != nil {
		a.log.Warn("flushing the action event", "err", ferr)
	}
	a.changes.Bump()
	return res, err
}

// noTarget is an actions.ErrNoTarget error that is also portal.ErrNoTarget.
type noTarget struct{ error }

func (e noTarget) Unwrap() error        { return e.error }
func (e noTarget) Is(target error) bool { return target == portal.ErrNoTarget }
