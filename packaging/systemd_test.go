//go:build linux

package packaging

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestDebOnSystemd installs the .deb into a Debian 12 booted under
// systemd-nspawn and runs it as an admin would: the unit becomes active
// and ready under its sandbox, answers /healthz, and its systemd probe
// reports that machine's own units; `systemctl reload` applies a config
// change and refuses a bad one; `systemctl stop` flushes the store (the
// history is there after a start); an upgrade keeps the data and the
// edited config; purge removes both. The unit's exposure as
// systemd-analyze rates it is at most 4.0.
func TestDebOnSystemd(t *testing.T) {
	v1 := buildPackages(t, "1.0.0")
	v2 := buildPackages(t, "1.0.1")
	m := machine{t: t, s: testenv.StartSystemd(t)}

	start := time.Now()
	out := m.must("dpkg -i " + m.copyIn(v1.deb) + " 2>&1")
	t.Logf("installed in %s", time.Since(start).Round(time.Millisecond))
	st := m.show("ActiveState", "SubState", "Type", "StatusText", "WatchdogUSec", "User", "UnitFileState", "NRestarts")
	// Type=notify: active only once the agent said READY=1.
	if st["ActiveState"] != "active" || st["SubState"] != "running" || st["Type"] != "notify" || st["UnitFileState"] != "enabled" {
		t.Fatalf("after install: %v\n%s\n%s", st, out, m.journal())
	}
	if !strings.Contains(st["StatusText"], "portal on 127.0.0.1:8080") || st["WatchdogUSec"] != "30s" || st["User"] != "barbossa" {
		t.Errorf("unit state: %v", st)
	}
	if ps := m.must("stat -c %U /proc/$(systemctl show -p MainPID --value barbossa.service)"); !strings.Contains(ps, "barbossa") {
		t.Errorf("the agent runs as %q, not as barbossa", ps)
	}
	if owner := m.must("stat -c '%U:%G %a' /var/lib/barbossa /etc/barbossa/barbossa.toml /etc/barbossa/probes.d"); owner != "barbossa:barbossa 750\nroot:barbossa 640\nroot:root 755\n" {
		t.Errorf("owners and modes:\n%s", owner)
	}

	// /healthz, then the systemd probe's view of this machine's units.
	m.until(30*time.Second, "/healthz", func() bool {
		code, _, err := m.get("/healthz")
		return err == nil && code == 200
	})
	var units struct {
		State  string `json:"state"`
		Report *struct {
			Entities []struct{ ID, State string } `json:"entities"`
		} `json:"report"`
	}
	m.until(60*time.Second, "the systemd probe's report", func() bool {
		_, b, err := m.get("/api/v1/probes/systemd")
		return err == nil && json.Unmarshal(b, &units) == nil && units.Report != nil
	})
	states := map[string]string{}
	for _, e := range units.Report.Entities {
		states[e.ID] = e.State
	}
	for unit, want := range map[string]string{testenv.RunningUnit: "active", testenv.FailingUnit: "failed", "barbossa.service": "active", "dbus.service": "active"} {
		if states[unit] != want {
			t.Errorf("the systemd probe says %s is %q, want %q (%d units, state %s)", unit, states[unit], want, len(states), units.State)
		}
	}

	// The sandbox leaves the system probe what it reads.
	var system struct {
		State     string `json:"state"`
		LastError string `json:"last_error"`
		Report    *struct {
			Metrics []struct{ Name string } `json:"metrics"`
		} `json:"report"`
	}
	m.until(30*time.Second, "the system probe's report", func() bool {
		_, b, err := m.get("/api/v1/probes/system")
		return err == nil && json.Unmarshal(b, &system) == nil && system.Report != nil
	})
	if units.State != "ok" || len(system.Report.Metrics) < 20 {
		t.Errorf("under the sandbox: systemd probe %s, system probe %d metrics (%s)\n%s", units.State, len(system.Report.Metrics), system.LastError, m.journal())
	}

	// The exposure figure, from the container's own systemd-analyze.
	sec := m.must("systemd-analyze security --no-pager barbossa.service")
	mm := regexp.MustCompile(`Overall exposure level for barbossa.service: ([0-9.]+) (\S+)`).FindStringSubmatch(sec)
	if mm == nil {
		t.Fatalf("no exposure figure in:\n%s", sec)
	}
	if exposure, _ := strconv.ParseFloat(mm[1], 64); exposure > 4.0 {
		t.Errorf("exposure %s (%s), want at most 4.0:\n%s", mm[1], mm[2], sec)
	}
	t.Logf("systemd-analyze security: exposure %s %s", mm[1], mm[2])

	// Reload: a probe added, and the store set to write only when it must
	// (the restart-only change is named in the log). A bad config fails the
	// reload and changes nothing.
	cfgPath := filepath.Join(m.s.Root(), "etc/barbossa/barbossa.toml")
	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "[store]\n", "[store]\nflush_interval = \"1h\"\nbatch_size = 1000000\n", 1) +
		"\n[[probe]]\nname = \"uptime\"\nsource = \"builtin:system\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n"
	writeConfig := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(strings.Replace(edited, `name = "uptime"`, "name = 7", 1))
	if out, err := m.sh("systemctl reload barbossa.service"); err == nil {
		t.Errorf("the reload of a bad config succeeded:\n%s", out)
	}
	if out := m.must("journalctl -u barbossa.service --no-pager"); !strings.Contains(out, "/etc/barbossa/barbossa.toml:") || !strings.Contains(out, "probe.name") {
		t.Errorf("the refused reload does not name the file, line and key:\n%s", out)
	}
	writeConfig(edited)
	m.must("systemctl reload barbossa.service")
	m.until(30*time.Second, "the probe the reload added", func() bool {
		code, _, err := m.get("/api/v1/probes/uptime")
		return err == nil && code == 200
	})
	if st := m.show("ActiveState", "NRestarts", "MainPID"); st["ActiveState"] != "active" || st["NRestarts"] != "0" {
		t.Errorf("after the reloads: %v", st)
	}
	m.until(20*time.Second, "the restart-only keys in the log", func() bool {
		return strings.Contains(m.journal(), "store.batch_size, store.flush_interval")
	})

	// Stop flushes. A restart applies the store settings; from then on
	// nothing reaches the disk before shutdown, so the history after the
	// next start proves the stop wrote it.
	m.must("systemctl restart barbossa.service")
	history := func() int {
		q := url.Values{"series": {"system.load.1"}, "from": {"-1h"}, "step": {"1s"}}
		_, b, err := m.get("/api/v1/query?" + q.Encode())
		if err != nil {
			return -1
		}
		return count(b, "],[") + count(b, "[[")
	}
	m.until(30*time.Second, "fresh reports", func() bool {
		var p struct{ Runs int }
		_, b, err := m.get("/api/v1/probes/uptime")
		return err == nil && json.Unmarshal(b, &p) == nil && p.Runs >= 5
	})
	before := history()
	m.must("systemctl stop barbossa.service")
	if st := m.show("ActiveState", "Result"); st["ActiveState"] != "inactive" || st["Result"] != "success" {
		t.Errorf("after stop: %v\n%s", st, m.journal())
	}
	m.must("systemctl start barbossa.service")
	var after int
	m.until(30*time.Second, "the history after a start", func() bool { after = history(); return after > 0 })
	t.Logf("history: %d points before the stop, %d after the start", before, after)
	if after < before+5 {
		t.Errorf("%d points before the stop, %d after the start: the stop did not flush the last runs", before, after)
	}

	// Upgrade: the data and the edited config stay; the new version runs.
	m.must("dpkg -i " + m.copyIn(v2.deb) + " 2>&1")
	if got, _ := os.ReadFile(cfgPath); string(got) != edited {
		t.Errorf("the upgrade changed the edited config:\n%s", got)
	}
	m.until(30*time.Second, "version 1.0.1 serving", func() bool {
		var s struct {
			Host struct {
				AgentVersion string `json:"agent_version"`
			} `json:"host"`
		}
		_, b, err := m.get("/api/v1/status")
		return err == nil && json.Unmarshal(b, &s) == nil && s.Host.AgentVersion == "1.0.1"
	})
	if n := history(); n < after {
		t.Errorf("%d points after the upgrade, %d before: history was lost", n, after)
	}

	// Purge: data, config and unit go; nothing runs.
	m.must("dpkg --purge barbossa 2>&1")
	if out, _ := m.sh("ls -d /var/lib/barbossa /etc/barbossa /usr/lib/systemd/system/barbossa.service /usr/bin/barbossa 2>&1"); strings.Count(out, "No such file") != 4 {
		t.Errorf("left after purge:\n%s", out)
	}
	if out, _ := m.sh("cat /proc/[0-9]*/comm 2>/dev/null | grep -x barbossa || echo none"); strings.TrimSpace(out) != "none" {
		t.Errorf("still running after purge: %s", out)
	}
}
