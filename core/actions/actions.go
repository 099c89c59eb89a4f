// Package actions starts, stops and restarts what the portal may act on: a
// systemd unit over D-Bus, a Docker container through the Engine API. It
// waits for the outcome (systemd's job result, the Engine's answer), so a
// caller reports what happened, not that something was asked.
package actions

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

	"github.com/godbus/dbus/v5"
)

// ErrNoTarget is wrapped in the error for a unit or container that does
// not exist.
var ErrNoTarget = errors.New("no such target")

// Result is what an action came to.
type Result struct {
	// Result is systemd's job result (done, failed, timeout, canceled,
	// dependency, skipped) or, for a container, done or failed.
	Result string
	// Message says more: "already stopped", the job's path.
	Message string
}

// Unit runs StartUnit, StopUnit or RestartUnit of unit on bus ("system",
// "session" or an address) with mode "replace"
// and waits for systemd's job to finish, as systemctl does: the answer is
// the job's result, not merely that it was queued.
func Unit(ctx context.Context, bus, unit, action string) (Result, error) {
	method := map[string]string{"start": "StartUnit", "stop": "StopUnit", "restart": "RestartUnit"}[action]
	if method == "" {
		return Result{}, fmt.Errorf("unknown action %q", action)
	}
	conn, err := connectBus(ctx, bus)
	if err != nil {
		return Result{}, fmt.Errorf("connect to the %s bus: %w", bus, err)
	}
	defer conn.Close()

	// Listen before asking, so a fast job's JobRemoved cannot be missed.
	signals := make(chan *dbus.Signal, 64)
	conn.Signal(signals)
	if err := conn.AddMatchSignalContext(ctx,
		dbus.WithMatchObjectPath("/org/freedesktop/systemd1"),
		dbus.WithMatchInterface("org.freedesktop.systemd1.Manager"),
		dbus.WithMatchMember("JobRemoved")); err != nil {
		return Result{}, fmt.Errorf("watch systemd jobs: %w", err)
	}
	mgr := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	// systemd only sends JobRemoved to clients that subscribed.
	if err := mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.Subscribe", 0).Err; err != nil {
		return Result{}, fmt.Errorf("subscribe to systemd: %w", err)
	}
	var job dbus.ObjectPath
	if err := mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager."+method, 0, unit, "replace").Store(&job); err != nil {
		var derr dbus.Error
		if errors.As(err, &derr) && (derr.Name == "org.freedesktop.systemd1.NoSuchUnit" || derr.Name == "org.freedesktop.systemd1.LoadFailed") {
			return Result{}, fmt.Errorf("unit %s: %w: %v", unit, ErrNoTarget, err)
		}
		return Result{}, fmt.Errorf("%s %s: %w", method, unit, err)
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
			res := Result{Result: result, Message: "job " + string(job)}
			if result != "done" {
				return res, fmt.Errorf("%s %s: job %s", action, unit, result)
			}
			return res, nil
		case <-ctx.Done():
			return Result{Result: "timeout", Message: "job " + string(job)}, fmt.Errorf("%s %s: waiting for job %s: %w", action, unit, job, ctx.Err())
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

// Container finds the container by its exact name and asks the Docker
// Engine at socket to start, stop or restart it. The name is resolved first
// because the Engine also takes ID prefixes in its paths: a granted name
// pattern must never reach another container through one.
func Container(ctx context.Context, socket, name, action string) (Result, error) {
	switch action {
	case "start", "stop", "restart":
	default:
		return Result{}, fmt.Errorf("unknown action %q", action)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
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
		return Result{}, err
	}
	if status != http.StatusOK {
		return Result{}, fmt.Errorf("list containers: %d %s", status, dockerMessage(body))
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return Result{}, fmt.Errorf("list containers: %w", err)
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
		return Result{}, fmt.Errorf("container %s: %w", name, ErrNoTarget)
	}
	path := "/containers/" + id + "/" + action
	if action != "start" {
		path += "?t=10" // seconds Docker waits before it kills
	}
	status, body, err = dockerCall(ctx, client, http.MethodPost, path)
	if err != nil {
		return Result{}, err
	}
	switch status {
	case http.StatusNoContent:
		return Result{Result: "done", Message: "container " + id[:12]}, nil
	case http.StatusNotModified:
		already := map[string]string{"start": "already running", "stop": "already stopped"}[action]
		return Result{Result: "done", Message: already}, nil
	case http.StatusNotFound:
		return Result{}, fmt.Errorf("container %s: %w", name, ErrNoTarget)
	}
	return Result{Result: "failed"}, fmt.Errorf("%s container %s: %d %s", action, name, status, dockerMessage(body))
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
