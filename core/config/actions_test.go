package config

import (
	"strings"
	"testing"
	"time"
)

func TestActionsDefaults(t *testing.T) {
	cfg, err := Parse("x.toml", []byte("[portal]\ntoken = \"t\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Portal.Actions
	if len(a.Units) != 0 || len(a.Containers) != 0 {
		t.Errorf("something is granted by default: %+v", a)
	}
	if a.Bus != "system" || a.Socket != "/var/run/docker.sock" || a.Timeout.Duration != time.Minute {
		t.Errorf("defaults: %+v", a)
	}
}

func TestActionsParse(t *testing.T) {
	cfg, err := Parse("x.toml", []byte(`[portal]
token = "t"
[portal.actions]
units = ["nginx.service", "app-*.service"]
containers = ["web-*"]
bus = "unix:path=/run/dbus/system_bus_socket"
socket = "unix:///run/docker.sock"
timeout = "30s"
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Portal.Actions
	if strings.Join(a.Units, ",") != "nginx.service,app-*.service" || a.Containers[0] != "web-*" ||
		a.Bus != "unix:path=/run/dbus/system_bus_socket" || a.Socket != "/run/docker.sock" || a.Timeout.Duration != 30*time.Second {
		t.Errorf("actions = %+v", a)
	}
}

func TestActionsErrors(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string
	}{
		{"units = [\"[nginx\"]", []string{`x.toml:3: portal.actions.units: "[nginx" is not a valid glob pattern`}},
		{"containers = [\"web\", \"\"]", []string{`x.toml:3: portal.actions.containers: "" is not a valid glob pattern`}},
		{"bus = \"systemd\"", []string{`x.toml:3: portal.actions.bus: "systemd" is not system, session or a D-Bus address`}},
		{"socket = \"docker.sock\"", []string{`x.toml:3: portal.actions.socket: "docker.sock" must be an absolute path`}},
		{"timeout = \"1h\"", []string{`x.toml:3: portal.actions.timeout: 1h0m0s is outside 1s..10m`}},
		{"unit = [\"x\"]", []string{`x.toml:3: portal.actions.unit: unknown key`}},
		{"units = \"nginx.service\"", []string{"x.toml:3", "units"}},
	} {
		_, err := Parse("x.toml", []byte("[portal]\n[portal.actions]\n"+tc.body+"\n"))
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.body, err, w)
			}
		}
	}
}
