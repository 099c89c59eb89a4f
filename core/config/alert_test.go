package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// issueExample is the config the alerting issue wrote: these keys must
// keep working.
const issueExample = `
[[alert]]
name = "disk-full"
series = 'system.disk.used_percent{mount="/"}'   # the query API's selector
above = 90          # or below
clear = 85          # hysteresis: resolves only under this
for = "5m"          # must hold this long before firing
severity = "critical"

[[alert]]
name = "too-many-sessions"
series = "tmux.sessions"
above = 1.5
for = "2s"
severity = "warning"
notify = ["hook", "am"]    # names of [[notify]] entries

[[notify]]
name = "hook"
type = "webhook"           # webhook | alertmanager | email | ntfy | slack
url = "http://127.0.0.1:9000/hook"

[[notify]]
name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9093"
`

func TestAlertIssueExample(t *testing.T) {
	cfg, err := Parse("x.toml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Alerts) != 2 || len(cfg.Notify) != 2 {
		t.Fatalf("%d alerts, %d receivers", len(cfg.Alerts), len(cfg.Notify))
	}
	disk := cfg.Alerts[0]
	if *disk.Above != 90 || *disk.Clear != 85 || disk.For.Duration != 5*time.Minute || disk.Severity != "critical" || disk.Line != 2 {
		t.Errorf("disk-full = %+v", disk)
	}
	tm := cfg.Alerts[1]
	if *tm.Clear != 1.5 || tm.For.Duration != 2*time.Second || strings.Join(tm.Notify, ",") != "hook,am" {
		t.Errorf("too-many-sessions = %+v (clear defaults to above)", tm)
	}
	hook, am := cfg.Notify[0], cfg.Notify[1]
	if hook.GroupWait.Duration != DefaultGroupWait || hook.RepeatInterval.Duration != DefaultRepeatInterval || !*hook.SendResolved {
		t.Errorf("webhook defaults = %+v", hook)
	}
	if am.GroupWait.Duration != 0 || am.RepeatInterval.Duration != time.Minute {
		t.Errorf("alertmanager defaults: group_wait %s, repeat %s; want 0 and 1m", am.GroupWait, am.RepeatInterval)
	}
	if cfg.Alerting.Interval.Duration != DefaultAlertInterval || cfg.Alerting.Expire.Duration != DefaultNotifyExpire {
		t.Errorf("alerting = %+v", cfg.Alerting)
	}
}

func TestAlertErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"unknown key in second alert", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 1\n[[alert]]\nname = \"b\"\nseries = \"x\"\nabove = 1\nabov = 2\n",
			[]string{"x.toml:9: alert.abov: unknown key"}},
		{"unknown key in inline entity", "[[alert]]\nname = \"a\"\nentity = {kind = \"unit\", stat = [\"failed\"]}\n",
			[]string{"x.toml:3: alert.entity.stat: unknown key", "x.toml:3: alert.entity: alert \"a\": say which entities"}},
		{"bad selector", "[[alert]]\nname = \"a\"\nseries = 'x{mount=/}'\nabove = 1\n",
			[]string{`x.toml:3: alert.series: alert "a": "x{mount=/}": label mount: value must be double quoted`}},
		{"no threshold", "[[alert]]\nname = \"a\"\nseries = \"x\"\n", []string{"x.toml:3: alert.series: alert \"a\": a series rule needs above or below"}},
		{"clear on the wrong side", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 90\nclear = 95\n",
			[]string{"x.toml:5: alert.clear: alert \"a\": 95 is over above = 90"}},
		{"two kinds", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 1\nprobe = {state = [\"stale\"]}\n",
			[]string{"x.toml:2: alert.name: alert \"a\": say what it watches with exactly one of series, entity or probe"}},
		{"threshold on an entity rule", "[[alert]]\nname = \"a\"\nentity = {health = [\"crit\"]}\nabove = 1\n",
			[]string{"x.toml:4: alert.above: alert \"a\": only for a series rule"}},
		{"bad probe state", "[[alert]]\nname = \"a\"\n[alert.probe]\nstate = [\"dead\"]\nruns = -1\n",
			[]string{`x.toml:4: alert.probe.state: alert "a": "dead" is not one of failing, timeout, stale`, "x.toml:5: alert.probe.runs"}},
		{"bad annotation template", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 1\nannotations = {summary = \"{{.Value\"}\n",
			[]string{`x.toml:5: alert.annotations: alert "a": summary: "{{.Value": template: annotation:1: unclosed action`}},
		{"bad health", "[[alert]]\nname = \"a\"\nentity = {health = [\"critical\"]}\n",
			[]string{`x.toml:3: alert.entity.health: alert "a": "critical" is not one of ok, warn, crit, unknown`}},
		{"bad severity and receiver", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 1\nseverity = \"high\"\nnotify = [\"nope\"]\n",
			[]string{`x.toml:5: alert.severity: alert "a": "high" is not one of critical, warning, info`, `x.toml:6: alert.notify: alert "a": "nope" names no [[notify]] entry`}},
		{"duplicate alert", "[[alert]]\nname = \"a\"\nseries = \"x\"\nabove = 1\n\n[[alert]]\nname = \"a\"\nseries = \"y\"\nabove = 1\n",
			[]string{`x.toml:7: alert.name: duplicate alert name "a" (first defined on line 1)`}},
		{"bad notify type", "[[notify]]\nname = \"n\"\ntype = \"pager\"\n", []string{`x.toml:3: notify.type: notify "n": "pager" is not one of webhook, alertmanager, email, ntfy, slack`}},
		{"webhook without url", "[[notify]]\nname = \"n\"\ntype = \"webhook\"\n", []string{`x.toml:1: notify.url: notify "n": is required`}},
		{"webhook with a bad url", "[[notify]]\nname = \"n\"\ntype = \"webhook\"\nurl = \"ftp://x\"\n", []string{`x.toml:4: notify.url`, "http://"}},
		{"email without addresses", "[[notify]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"mail:99999\"\nfrom = \"nobody\"\n",
			[]string{`x.toml:4: notify.smtp: notify "m": "mail:99999": want host:port`, `x.toml:5: notify.from`, `notify.to: notify "m": is required`}},
		{"email keys on a webhook", "[[notify]]\nname = \"n\"\ntype = \"webhook\"\nurl = \"http://x\"\nto = [\"a@b.c\"]\n",
			[]string{`x.toml:5: notify.to: notify "n": only for type email`}},
		{"secret on alertmanager", "[[notify]]\nname = \"n\"\ntype = \"alertmanager\"\nurl = \"http://x\"\nsecret = \"s\"\n",
			[]string{`x.toml:5: notify.secret: notify "n": only for type webhook`}},
		{"bad rate limit", "[[notify]]\nname = \"n\"\ntype = \"ntfy\"\nurl = \"http://x/t\"\nrate_limit = \"often\"\n",
			[]string{`x.toml:5: notify.rate_limit: notify "n": "often": want N/DURATION`}},
		{"bad slack format", "[[notify]]\nname = \"n\"\ntype = \"slack\"\nurl = \"http://x\"\nformat = \"teams\"\n",
			[]string{`x.toml:5: notify.format: notify "n": "teams" is not one of slack, mattermost, discord`}},
		{"bad alerting", "[alerting]\ninterval = \"1ms\"\nlabels = {probe = \"x\"}\n",
			[]string{"x.toml:2: alerting.interval: 1ms is too short", "x.toml:3: alerting.labels"}},
		{"unknown alerting key", "[alerting]\ngroupwait = \"1s\"\n", []string{"x.toml:2: alerting.groupwait: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.toml", []byte(tt.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestNotifySecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	text := "[[notify]]\nname = \"h\"\ntype = \"webhook\"\nurl = \"http://x\"\nsecret_file = \"secret\"\n\n" +
		"[[notify]]\nname = \"m\"\ntype = \"email\"\nsmtp = \"mail:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\nusername = \"u\"\npassword_file = \"empty\"\n"
	file := filepath.Join(dir, "b.toml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if secret, _, _, err := cfg.NotifySecrets(0); err != nil || secret != "s3cret" {
		t.Errorf("secret %q, %v", secret, err)
	}
	_, _, _, err = cfg.NotifySecrets(1)
	if err == nil || !strings.Contains(err.Error(), "b.toml:14: notify.password_file:") || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty password file: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]string{"10/1h": "10 1h0m0s", " 1 / 30s ": "1 30s", "5/1d": "5 24h0m0s"} {
		n, per, err := ParseRate(in)
		if err != nil || fmt.Sprint(n, " ", per) != want {
			t.Errorf("ParseRate(%q) = %d %s %v, want %s", in, n, per, err, want)
		}
	}
	for _, in := range []string{"", "10", "0/1h", "-1/1h", "x/1h", "1/", "1/0s", "1/500ms", "1/1h/2"} {
		if _, _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

// FuzzParseRate: what ParseRate accepts is at least one message per at
// least a second.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10/1h", "1/30s", "0/1h", "1/1ms", "9999999999999999999/1s", "1/1d12h", "/", "1/-1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, per, err := ParseRate(s)
		if err == nil && (n < 1 || per < time.Second) {
			t.Fatalf("ParseRate(%q) = %d per %s", s, n, per)
		}
	})
}
