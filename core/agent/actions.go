package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/barbossa-agent/barbossa/core/config"
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
		res portal.ActionResult
		err error
	)
	switch act.Kind {
	case "unit":
		res, err = unitAction(ctx, cfg, act.Target, act.Action)
	case "container":
		res, err = containerAction(ctx, cfg, act.Target, act.Action)
	default:
		err = fmt.Errorf("unknown kind %q", act.Kind)
	}
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

// unitAction runs StartUnit, StopUnit or RestartUnit with mode "replace"
// and waits for systemd's job to finish, as systemctl does: the answer is
// the job's result, not merely that it was queued.
func unitAction(ctx context.Context, cfg config.Actions, unit, action string) (portal.ActionResult, error) {
	method := map[string]string{"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}[action]
	if method == "" {
		return portal.ActionResult{}, fmt.Errorf("unknown action %q", action)
	}
	conn, err := connectBus(ctx, cfg.Bus)
	if err != nil {
		return portal.ActionResult{}, fmt.Errorf("connect to the %s bus: %w", cfg.Bus, err)
	}
	defer conn.Close()

	// Listen before asking, so a fast job's JobRemoved cannot be missed.
	signals := make(chan *dbus.Signal, 64)
	conn.Signal(signals)
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchObjectPath("/org/freedesktop/systemd1"),
		dbus.WithMatchInterface("org.freedesktop.systemd1.Manager"),
		dbus.WithMatchMember("JobRemoved")); err != nil {
		return portal.ActionResult{}, fmt.Errorf("watch systemd jobs: %w", err)
	}
	mgr := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	// systemd only sends JobRemoved to clients that subscribed.
	if err := mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.Subscribe", 0).Err; err != nil {
		return portal.ActionResult{}, fmt.Errorf("subscribe to systemd: %w", err)
	}
	var job dbus.ObjectPath
	if err := mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager."+method, 0, unit, "replace").Store(&job); err != nil {
		var derr dbus.Error
		if errors.As(err, &derr) && (derr.Name == "org.freedesktop.systemd1.NoSuchUnit" || derr.Name == "org.freedesktop.systemd1.LoadFailed") {
			return portal.ActionResult{}, fmt.Errorf("unit %s: %w: %v", unit, portal.ErrNoTarget, err)
		}
		return portal.ActionResult{}, fmt.Errorf("%s %s: %w", method, unit, err)
	}
	for {
		select {
		case sig := <-signals:
			if sig == nil || sig.Name != "org.freedesktop.systemd1.Manager.JobRemoved" || len(sig.Body) < 4 {
				continue
			}
			if p, _ := sig.Body[1].(dbus.ObjectPath); p != job {
				continue
			}
			result, _ := sig.Body[3].(string)
			res := portal.ActionResult{Result: result, Message: "job " + string(job)}
			if result != "done" {
				return res, fmt.Errorf("%s %s: job %s", action, unit, result)
			}
			return res, nil
		case <-ctx.Done():
			return portal.ActionResult{Result: "timeout", Message: "job " + string(job)}, fmt.Errorf("%s %s: waiting for job %s: %w", action, unit, job, ctx.Err())
		}
	}
}

// connectBus opens a private connection to bus: "system" (which honours
// DBUS_SYSTEM_BUS_ADDRESS), "session" or an address.
func connectBus(ctx context.Context, bus string) (*dbus.Conn, error) {
	opt := dbus.WithContext(ctx)
	switch bus {
	case "", "system":
		return dbus.ConnectSystemBus(opt)
	case "session":
		return dbus.ConnectSessionBus(opt)
	}
	return dbus.Connect(bus, opt)
}

// containerAction finds the container by its exact name and asks the
// Docker Engine to start, stop or restart it. The name is resolved first
// because the Engine also takes ID prefixes in its paths: a granted name
// pattern must never reach another container through one.
func containerAction(ctx context.Context, cfg config.Actions, name, action string) (portal.ActionResult, error) {
	switch action {
	case "start", "stop", "restart":
	default:
		return portal.ActionResult{}, fmt.Errorf("unknown action %q", action)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", cfg.Socket)
		},
	}}
	defer client.CloseIdleConnections()

	filters, _ := json.Marshal(map[string][]string{"name": {"^/" + regexp.QuoteMeta(name) + "$"}})
	var list []struct {
		ID    string   `json:"Id"`
		Names []string `json:"Names"`
	}
	status, body, err := dockerCall(ctx, client, http.MethodGet, "/containers/json?all=1&filters="+url.QueryEscape(string(filters)))
	if err != nil {
		return portal.ActionResult{}, err
	}
	if status != http.StatusOK {
		return portal.ActionResult{}, fmt.Errorf("list containers: %d %s", status, dockerMessage(body))
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return portal.ActionResult{}, fmt.Errorf("list containers: %w", err)
	}
	id := ""
	for _, c := range list {
		for _, n := range c.Names {
			if n == "/"+name {
				id = c.ID
			}
		}
	}
	if id == "" {
		return portal.ActionResult{}, fmt.Errorf("container %s: %w", name, portal.ErrNoTarget)
	}
	path := "/containers/" + id + "/" + action
	if action != "start" {
		path += "?t=10" // seconds Docker waits before it kills
	}
	status, body, err = dockerCall(ctx, client, http.MethodPost, path)
	if err != nil {
		return portal.ActionResult{}, err
	}
	switch status {
	case http.StatusNoContent:
		return portal.ActionResult{Result: "done", Message: "container " + id[:12]}, nil
	case http.StatusNotModified:
		already := map[string]string{"start": "already running", "stop": "already stopped"}[action]
		return portal.ActionResult{Result: "done", Message: already}, nil
	case http.StatusNotFound:
		return portal.ActionResult{}, fmt.Errorf("container %s: %w", name, portal.ErrNoTarget)
	}
	return portal.ActionResult{Result: "failed"}, fmt.Errorf("%s container %s: %d %s", action, name, status, dockerMessage(body))
}

func dockerCall(ctx context.Context, client *http.Client, method, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("docker engine: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("docker engine: %w", err)
	}
	return resp.StatusCode, body, nil
}

// dockerMessage is the message of an Engine API error body.
func dockerMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return string(body)
}
