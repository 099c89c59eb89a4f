//go:build linux

package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// ContainerState is a state the Engine API reports in State.Status.
type ContainerState string

// The states Container can put a container in.
const (
	Created ContainerState = "created"
	Running ContainerState = "running"
	Paused  ContainerState = "paused"
	Exited  ContainerState = "exited"
)

// HealthState is a State.Health.Status of the Engine API.
type HealthState string

// The health states Container can wait for.
const (
	Healthy   HealthState = "healthy"
	Unhealthy HealthState = "unhealthy"
)

// ContainerSpec says what container to make and which state to leave it in.
type ContainerSpec struct {
	Name string // required: containers are looked up by name in tests

	// State is the state Container returns in; "" means Running.
	State ContainerState
	// ExitCode is the code an Exited container exits with.
	ExitCode int
	// Health, if set, adds a HEALTHCHECK (probe exit 0 for Healthy, exit 1
	// for Unhealthy, every second, one retry) and waits for that status.
	// Only with Running.
	Health HealthState
	// Labels are set on the container.
	Labels map[string]string
	// Cmd replaces the image's CMD (["sleep"]); see testdata/probe.
	// Ignored for Exited, whose command is ["exit", ExitCode].
	Cmd []string
}

// Container is a container Container made.
type Container struct {
	ID, Name string
}

// ContainerInfo is the part of GET /containers/{id}/json the harness and
// its tests look at.
type ContainerInfo struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"` // with the leading "/"
	Image string `json:"Image"`
	State struct {
		Status   string `json:"Status"`
		Running  bool   `json:"Running"`
		Paused   bool   `json:"Paused"`
		ExitCode int    `json:"ExitCode"`
		Pid      int    `json:"Pid"`
		Health   *struct {
			Status        string `json:"Status"`
			FailingStreak int    `json:"FailingStreak"`
		} `json:"Health"`
	} `json:"State"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

// Container creates a container from the test image and brings it into
// spec.State (and spec.Health), failing the test if it cannot. The
// container is removed with the daemon at cleanup.
func (d *Docker) Container(t testing.TB, spec ContainerSpec) Container {
	t.Helper()
	c, err := d.container(t, spec)
	if err != nil {
		t.Fatalf("testenv: container %q: %v", spec.Name, err)
	}
	return c
}

func (d *Docker) container(t testing.TB, spec ContainerSpec) (Container, error) {
	state := spec.State
	if state == "" {
		state = Running
	}
	if spec.Name == "" {
		return Container{}, fmt.Errorf("ContainerSpec.Name is required")
	}
	if spec.Health != "" && state != Running {
		return Container{}, fmt.Errorf("health %s needs state running, not %s", spec.Health, state)
	}
	image := d.Image(t)

	type healthcheck struct {
		Test     []string
		Interval time.Duration
		Timeout  time.Duration
		Retries  int
	}
	body := struct {
		Image       string
		Cmd         []string          `json:",omitempty"`
		Labels      map[string]string `json:",omitempty"`
		Healthcheck *healthcheck      `json:",omitempty"`
		HostConfig  struct {
			NetworkMode string
		}
	}{Image: image, Cmd: spec.Cmd, Labels: spec.Labels}
	// dockerd runs with --bridge=none: there is no default network to join.
	body.HostConfig.NetworkMode = "none"
	if state == Exited {
		body.Cmd = []string{"exit", fmt.Sprint(spec.ExitCode)}
	}
	switch spec.Health {
	case "":
	case Healthy, Unhealthy:
		code := "0"
		if spec.Health == Unhealthy {
			code = "1"
		}
		body.Healthcheck = &healthcheck{
			Test:     []string{"CMD", "/probe", "exit", code},
			Interval: time.Second, // each check is a runc exec: keep the rate low on 2 cores
			Timeout:  5 * time.Second,
			Retries:  1,
		}
	default:
		return Container{}, fmt.Errorf("unknown health %q", spec.Health)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.API(ctx, http.MethodPost, "/containers/create?name="+url.QueryEscape(spec.Name), body, &created); err != nil {
		return Container{}, err
	}
	c := Container{ID: created.ID, Name: spec.Name}
	if state == Created {
		return c, d.waitState(ctx, c.ID, Created, "")
	}
	if err := d.API(ctx, http.MethodPost, "/containers/"+c.ID+"/start", nil, nil); err != nil {
		return c, err
	}
	switch state {
	case Exited:
		var w struct{ StatusCode int }
		if err := d.API(ctx, http.MethodPost, "/containers/"+c.ID+"/wait", nil, &w); err != nil {
			return c, err
		}
		if w.StatusCode != spec.ExitCode {
			return c, fmt.Errorf("exited with %d, want %d", w.StatusCode, spec.ExitCode)
		}
	case Paused:
		if err := d.API(ctx, http.MethodPost, "/containers/"+c.ID+"/pause", nil, nil); err != nil {
			return c, err
		}
	case Running:
	default:
		return c, fmt.Errorf("unknown state %q", state)
	}
	return c, d.waitState(ctx, c.ID, state, spec.Health)
}

// waitState polls inspect until the container is in state (and health).
func (d *Docker) waitState(ctx context.Context, id string, state ContainerState, health HealthState) error {
	var last ContainerInfo
	for {
		var info ContainerInfo
		err := d.API(ctx, http.MethodGet, "/containers/"+id+"/json", nil, &info)
		if err == nil {
			last = info
			ok := info.State.Status == string(state)
			if health != "" {
				ok = ok && info.State.Health != nil && info.State.Health.Status == string(health)
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			h := ""
			if last.State.Health != nil {
				h = last.State.Health.Status
			}
			return fmt.Errorf("waiting for %s/%s: still %q health %q: %w", state, health, last.State.Status, h, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Inspect returns GET /containers/{idOrName}/json.
func (d *Docker) Inspect(t testing.TB, idOrName string) ContainerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var info ContainerInfo
	if err := d.API(ctx, http.MethodGet, "/containers/"+url.PathEscape(idOrName)+"/json", nil, &info); err != nil {
		t.Fatalf("testenv: inspect %s: %v", idOrName, err)
	}
	return info
}
