package portal

import (
	"testing"
	"time"
)

// The host summary's machine facts come from the system probe's host
// entity, read by plugins/system's reader; the Source gives the agent's own.
func TestHostFromSystemProbe(t *testing.T) {
	f := newFake()
	f.host = Host{Hostname: "from-os", AgentVersion: "0.1.0-test", StartedAt: t0}
	var body struct{ Host Host }
	decode(t, get(t, newTestServer(t, f, ""), "/api/v1/status"), &body)
	want := Host{Hostname: "testhost", OS: "linux", Platform: "debian", PlatformVersion: "13", Kernel: "6.1.0", Arch: "amd64",
		UptimeSeconds: 3600, BootTime: t0.Add(-time.Hour).UTC(), CPUs: 2, AgentVersion: "0.1.0-test", StartedAt: t0}
	if !body.Host.BootTime.Equal(want.BootTime) || !body.Host.StartedAt.Equal(want.StartedAt) {
		t.Errorf("times: %+v", body.Host)
	}
	body.Host.BootTime, body.Host.StartedAt, want.BootTime, want.StartedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if body.Host != want {
		t.Errorf("host %+v\nwant %+v", body.Host, want)
	}

	// No fresh system report: the Source's facts alone.
	f = newFake()
	f.host = Host{Hostname: "from-os", AgentVersion: "0.1.0-test"}
	delete(f.latest, "system")
	decode(t, get(t, newTestServer(t, f, ""), "/api/v1/status"), &body)
	if body.Host.Hostname != "from-os" || body.Host.OS != "" || body.Host.AgentVersion != "0.1.0-test" {
		t.Errorf("host without a system report: %+v", body.Host)
	}
}
