package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/barbossa-agent/barbossa/core/selector"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Alerting is the [alerting] table: how rules are evaluated and the
// defaults of every [[notify]] receiver.
type Alerting struct {
	// Interval is how often every rule is evaluated, besides after each
	// probe report.
	Interval Duration `toml:"interval"`
	// GroupWait is how long a receiver collects alerts that change at
	// once before it sends them as one message.
	GroupWait Duration `toml:"group_wait"`
	// RepeatInterval is how often a receiver is reminded of an alert that
	// is still firing.
	RepeatInterval Duration `toml:"repeat_interval"`
	// Expire is how long an undelivered notification is retried.
	Expire Duration `toml:"expire"`
	// History is how long resolved alerts are listed.
	History Duration `toml:"history"`
	// ExternalURL is the portal's address as people reach it, for links
	// in notifications (Alertmanager's generatorURL).
	ExternalURL string `toml:"external_url"`
	// Labels are added to every alert: which host, which environment.
	Labels map[string]string `toml:"labels"`
}

// Alert is one [[alert]] rule. Exactly one of Series, Entity and Probe
// says what it watches.
type Alert struct {
	Name string `toml:"name"`
	// Series is a selector (the query API's syntax); each matching series
	// is an alert of its own.
	Series string   `toml:"series"`
	Above  *float64 `toml:"above"`
	Below  *float64 `toml:"below"`
	// Clear is where a firing alert resolves (hysteresis): under it for
	// above, over it for below. Default: the threshold itself.
	Clear *float64 `toml:"clear"`
	// Entity matches entities of probe reports.
	Entity *EntityMatch `toml:"entity"`
	// Probe matches probes by their health.
	Probe *ProbeMatch `toml:"probe"`

	For         Duration          `toml:"for"`
	Severity    string            `toml:"severity"`
	Notify      []string          `toml:"notify"`
	Labels      map[string]string `toml:"labels"`
	Annotations map[string]string `toml:"annotations"`
	Disabled    bool              `toml:"disabled"`

	// Line is where the entry starts in its file.
	Line int `toml:"-"`
}

// EntityMatch is an [[alert]]'s entity table: entities whose probe, kind
// and name match the globs, in one of States (globs) and with one of
// Healths.
type EntityMatch struct {
	Probe  string   `toml:"probe"`
	Kind   string   `toml:"kind"`
	Name   string   `toml:"name"`
	State  []string `toml:"state"`
	Health []string `toml:"health"`
}

// ProbeMatch is an [[alert]]'s probe table: probes whose name matches,
// in one of States (failing, timeout, stale), failing or timing out for at
// least Runs runs in a row.
type ProbeMatch struct {
	Name  string   `toml:"name"`
	State []string `toml:"state"`
	Runs  int      `toml:"runs"`
}

// Notify is one [[notify]] receiver.
type Notify struct {
	Name string `toml:"name"`
	Type string `toml:"type"`
	URL  string `toml:"url"`

	// Routing: a rule without notify reaches every receiver whose
	// Severities (all when empty) and Alerts (rule name globs, all when
	// empty) admit it.
	Severities []string `toml:"severities"`
	Alerts     []string `toml:"alerts"`

	SendResolved *bool `toml:"send_resolved"`
	// GroupWait is a pointer: "0s" (send at once) differs from unset.
	GroupWait      *Duration `toml:"group_wait"`
	RepeatInterval Duration  `toml:"repeat_interval"`
	// RateLimit is "N/DURATION": at most N messages per DURATION; alerts
	// meanwhile wait and go out together.
	RateLimit string   `toml:"rate_limit"`
	Timeout   Duration `toml:"timeout"`
	Expire    Duration `toml:"expire"`

	Headers map[string]string `toml:"headers"`
	// Secret signs webhook bodies (HMAC-SHA256); Token is a bearer token
	// (ntfy, alertmanager, webhook). Either may come from a file.
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	Token      string `toml:"token"`
	TokenFile  string `toml:"token_file"`

	// Email.
	SMTP         string   `toml:"smtp"`
	TLS          string   `toml:"tls"`
	CAFile       string   `toml:"ca_file"`
	From         string   `toml:"from"`
	To           []string `toml:"to"`
	Username     string   `toml:"username"`
	Password     string   `toml:"password"`
	PasswordFile string   `toml:"password_file"`

	// ntfy.
	Priority string `toml:"priority"`

	// Slack-compatible webhooks (Username is also the name they post as).
	Format  string `toml:"format"`
	Channel string `toml:"channel"`

	Line int `toml:"-"`
}

// Receiver types.
const (
	NotifyWebhook      = "webhook"
	NotifyAlertmanager = "alertmanager"
	NotifyEmail        = "email"
	NotifyNtfy         = "ntfy"
	NotifySlack        = "slack"
)

// Severities, worst first.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Defaults of [alerting] and [[notify]].
const (
	DefaultAlertInterval     = 5 * time.Second
	DefaultGroupWait         = 10 * time.Second
	DefaultRepeatInterval    = 4 * time.Hour
	DefaultNotifyExpire      = 24 * time.Hour
	DefaultAlertHistory      = 24 * time.Hour
	DefaultNotifyTimeout     = 10 * time.Second
	DefaultSMTPTLS           = "starttls"
	DefaultSlackFormat       = "slack"
	DefaultProbeRuns         = 1
	defaultAlertmanagerEvery = time.Minute
)

var (
	notifyTypes   = []string{NotifyWebhook, NotifyAlertmanager, NotifyEmail, NotifyNtfy, NotifySlack}
	severities    = []string{SeverityCritical, SeverityWarning, SeverityInfo}
	healths       = []string{"ok", "warn", "crit", "unknown"}
	probeStates   = []string{"failing", "timeout", "stale"}
	smtpTLS       = []string{"starttls", "tls", "none"}
	slackFormats  = []string{"slack", "mattermost", "discord"}
	ntfyPriorites = []string{"", "min", "low", "default", "high", "urgent", "max", "1", "2", "3", "4", "5"}
)

func (a *Alerting) applyDefaults() {
	if a.Interval.Duration == 0 {
		a.Interval.Duration = DefaultAlertInterval
	}
	if a.GroupWait.Duration == 0 {
		a.GroupWait.Duration = DefaultGroupWait
	}
	if a.RepeatInterval.Duration == 0 {
		a.RepeatInterval.Duration = DefaultRepeatInterval
	}
	if a.Expire.Duration == 0 {
		a.Expire.Duration = DefaultNotifyExpire
	}
	if a.History.Duration == 0 {
		a.History.Duration = DefaultAlertHistory
	}
}

func (r *Alert) applyDefaults() {
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if r.Probe != nil && r.Probe.Runs == 0 {
		r.Probe.Runs = DefaultProbeRuns
	}
	if r.Series != "" && r.Clear == nil {
		if r.Above != nil {
			r.Clear = r.Above
		} else if r.Below != nil {
			r.Clear = r.Below
		}
	}
}

// applyDefaults fills a receiver from [alerting]. An Alertmanager
// receiver sends at once and re-sends firing alerts every minute, as
// Prometheus does: Alertmanager groups, and an alert it stops hearing
// about resolves on its own.
func (n *Notify) applyDefaults(a Alerting) {
	if n.SendResolved == nil {
		t := true
		n.SendResolved = &t
	}
	if n.GroupWait == nil {
		n.GroupWait = &Duration{}
		if n.Type != NotifyAlertmanager {
			n.GroupWait.Duration = a.GroupWait.Duration
		}
	}
	if n.Type == NotifyAlertmanager {
		if n.RepeatInterval.Duration == 0 {
			n.RepeatInterval.Duration = defaultAlertmanagerEvery
		}
	} else {
		if n.RepeatInterval.Duration == 0 {
			n.RepeatInterval.Duration = a.RepeatInterval.Duration
		}
	}
	if n.Timeout.Duration == 0 {
		n.Timeout.Duration = DefaultNotifyTimeout
	}
	if n.Expire.Duration == 0 {
		n.Expire.Duration = a.Expire.Duration
	}
	if n.Type == NotifyEmail && n.TLS == "" {
		n.TLS = DefaultSMTPTLS
	}
	if n.Type == NotifySlack && n.Format == "" {
		n.Format = DefaultSlackFormat
	}
}

// problem is one (key, message) of an entry; check turns them into located
// errors.
type problem struct{ key, msg string }

func (c *Config) checkAlerting() []problem {
	var ps []problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, problem{"alerting." + key, fmt.Sprintf(format, args...)})
	}
	a := c.Alerting
	if a.Interval.Duration < 100*time.Millisecond {
		bad("interval", "%s is too short (at least 100ms)", a.Interval.Duration)
	}
	if a.RepeatInterval.Duration < time.Second {
		bad("repeat_interval", "%s is too short (at least 1s)", a.RepeatInterval.Duration)
	}
	if a.Expire.Duration < time.Minute {
		bad("expire", "%s is too short (at least 1m)", a.Expire.Duration)
	}
	if a.ExternalURL != "" {
		if err := checkHTTPURL(a.ExternalURL); err != nil {
			bad("external_url", "%q: %v", a.ExternalURL, err)
		}
	}
	for k := range a.Labels {
		if !selector.ValidName(k) || k == selector.ProbeLabel {
			bad("labels", "label name %q: use letters, digits and _ . : - / (and not probe)", k)
		}
	}
	return ps
}

// Check validates one [[alert]] rule after defaults; receivers are the
// names of the [[notify]] entries.
func (r *Alert) Check(receivers map[string]bool) []problem {
	var ps []problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if r.Name == "" {
		bad("name", "is required")
	} else if !validName(r.Name) {
		bad("name", "%q may hold only letters, digits, '-', '_' and '.'", r.Name)
	}
	kinds := 0
	for _, set := range []bool{r.Series != "", r.Entity != nil, r.Probe != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		bad("name", "say what it watches with exactly one of series, entity or probe")
	}
	if r.Series != "" {
		if _, err := selector.Parse(r.Series); err != nil {
			bad("series", "%q: %v", r.Series, err)
		}
		switch {
		case r.Above == nil && r.Below == nil:
			bad("series", "a series rule needs above or below")
		case r.Above != nil && r.Below != nil:
			bad("below", "above or below, not both")
		case r.Above != nil && r.Clear != nil && *r.Clear > *r.Above:
			bad("clear", "%g is over above = %g: an alert above a threshold resolves under clear", *r.Clear, *r.Above)
		case r.Below != nil && r.Clear != nil && *r.Clear < *r.Below:
			bad("clear", "%g is under below = %g: an alert below a threshold resolves over clear", *r.Clear, *r.Below)
		}
	} else {
		for key, set := range map[string]bool{"above": r.Above != nil, "below": r.Below != nil, "clear": r.Clear != nil} {
			if set {
				bad(key, "only for a series rule")
			}
		}
	}
	if e := r.Entity; e != nil {
		for key, g := range map[string]string{"entity.probe": e.Probe, "entity.kind": e.Kind, "entity.name": e.Name} {
			if g == "" {
				continue // any
			}
			if err := sdk.CheckGlob(g); err != nil {
				bad(key, "%v", err)
			}
		}
		for _, g := range e.State {
			if err := sdk.CheckGlob(g); err != nil {
				bad("entity.state", "%v", err)
			}
		}
		for _, h := range e.Health {
			if !oneOf(h, healths) {
				bad("entity.health", "%q is not one of %s", h, strings.Join(healths, ", "))
			}
		}
		if len(e.State) == 0 && len(e.Health) == 0 {
			bad("entity", "say which entities alert with state (globs) or health (%s), or both", strings.Join(healths, ", "))
		}
	}
	if p := r.Probe; p != nil {
		if p.Name != "" {
			if err := sdk.CheckGlob(p.Name); err != nil {
				bad("probe.name", "%v", err)
			}
		}
		if len(p.State) == 0 {
			bad("probe.state", "say which probe states alert: %s", strings.Join(probeStates, ", "))
		}
		for _, s := range p.State {
			if !oneOf(s, probeStates) {
				bad("probe.state", "%q is not one of %s", s, strings.Join(probeStates, ", "))
			}
		}
		if p.Runs < 1 {
			bad("probe.runs", "must be at least 1")
		}
	}
	if !oneOf(r.Severity, severities) {
		bad("severity", "%q is not one of %s", r.Severity, strings.Join(severities, ", "))
	}
	for _, n := range r.Notify {
		if !receivers[n] {
			bad("notify", "%q names no [[notify]] entry", n)
		}
	}
	for k, v := range r.Annotations {
		if _, err := ParseAnnotation(v); err != nil {
			bad("annotations", "%s: %v", k, err)
		}
	}
	for k := range r.Labels {
		if !selector.ValidName(k) || k == selector.ProbeLabel || k == "alertname" || k == "severity" {
			bad("labels", "label name %q: use letters, digits and _ . : - / (and not probe, alertname or severity, which the alert sets)", k)
		}
	}
	return ps
}

// Check validates one [[notify]] receiver after defaults.
func (n *Notify) Check() []problem {
	var ps []problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if n.Name == "" {
		bad("name", "is required")
	} else if !validName(n.Name) {
		bad("name", "%q may hold only letters, digits, '-', '_' and '.'", n.Name)
	}
	if !oneOf(n.Type, notifyTypes) {
		bad("type", "%q is not one of %s", n.Type, strings.Join(notifyTypes, ", "))
		return ps
	}
	if n.Type == NotifyEmail {
		if n.URL != "" {
			bad("url", "an email receiver names its server with smtp = \"host:port\"")
		}
		if n.SMTP == "" {
			bad("smtp", "is required: the mail server as host:port (587 for STARTTLS, 465 for TLS)")
		} else if err := checkHostPort(n.SMTP); err != nil {
			bad("smtp", "%q: %v", n.SMTP, err)
		}
		if !oneOf(n.TLS, smtpTLS) {
			bad("tls", "%q is not one of %s", n.TLS, strings.Join(smtpTLS, ", "))
		}
		if _, err := mail.ParseAddress(n.From); err != nil {
			bad("from", "%q is not a mail address: %v", n.From, err)
		}
		if len(n.To) == 0 {
			bad("to", "is required: who gets the mail")
		}
		for _, to := range n.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad("to", "%q is not a mail address: %v", to, err)
			}
		}
		if n.Password != "" && n.PasswordFile != "" {
			bad("password_file", "set password or password_file, not both")
		}
		if (n.Password != "" || n.PasswordFile != "") && n.Username == "" {
			bad("username", "a password needs a username")
		}
	} else {
		if n.URL == "" {
			bad("url", "is required")
		} else if err := checkHTTPURL(n.URL); err != nil {
			bad("url", "%q: %v", n.URL, err)
		}
		for key, set := range map[string]bool{"smtp": n.SMTP != "", "from": n.From != "", "to": len(n.To) > 0,
			"username": n.Username != "" && n.Type != NotifySlack, "password": n.Password != "", "password_file": n.PasswordFile != "", "tls": n.TLS != ""} {
			if set {
				bad(key, "only for type email")
			}
		}
	}
	if (n.Secret != "" || n.SecretFile != "") && n.Type != NotifyWebhook {
		bad("secret", "only for type webhook (it signs the body)")
	}
	if n.Secret != "" && n.SecretFile != "" {
		bad("secret_file", "set secret or secret_file, not both")
	}
	if n.Token != "" && n.TokenFile != "" {
		bad("token_file", "set token or token_file, not both")
	}
	if (n.Token != "" || n.TokenFile != "") && n.Type == NotifyEmail {
		bad("token", "not for type email: use username and password")
	}
	if n.Type != NotifyNtfy && n.Priority != "" {
		bad("priority", "only for type ntfy")
	}
	if !oneOf(n.Priority, ntfyPriorites) {
		bad("priority", "%q is not one of min, low, default, high, urgent, max (or 1-5)", n.Priority)
	}
	if n.Type == NotifySlack {
		if !oneOf(n.Format, slackFormats) {
			bad("format", "%q is not one of %s", n.Format, strings.Join(slackFormats, ", "))
		}
	} else {
		for key, set := range map[string]bool{"format": n.Format != "", "channel": n.Channel != ""} {
			if set {
				bad(key, "only for type slack")
			}
		}
	}
	for _, s := range n.Severities {
		if !oneOf(s, severities) {
			bad("severities", "%q is not one of %s", s, strings.Join(severities, ", "))
		}
	}
	for _, g := range n.Alerts {
		if err := sdk.CheckGlob(g); err != nil {
			bad("alerts", "%v", err)
		}
	}
	if n.RateLimit != "" {
		if _, _, err := ParseRate(n.RateLimit); err != nil {
			bad("rate_limit", "%v", err)
		}
	}
	if n.Timeout.Duration < 100*time.Millisecond || n.Timeout.Duration > 5*time.Minute {
		bad("timeout", "%s is outside 100ms..5m", n.Timeout.Duration)
	}
	if n.RepeatInterval.Duration < time.Second {
		bad("repeat_interval", "%s is too short (at least 1s)", n.RepeatInterval.Duration)
	}
	if n.Expire.Duration < time.Minute {
		bad("expire", "%s is too short (at least 1m)", n.Expire.Duration)
	}
	for k, v := range n.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n\t") || strings.ContainsAny(v, "\r\n") {
			bad("headers", "%q: not a valid header", k)
		}
	}
	return ps
}

// ParseRate reads a rate limit "N/DURATION" ("10/1h", "1/30s").
func ParseRate(s string) (n int, per time.Duration, err error) {
	num, dur, ok := strings.Cut(strings.TrimSpace(s), "/")
	if ok {
		n, err = strconv.Atoi(strings.TrimSpace(num))
	}
	if !ok || err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%q: want N/DURATION, such as 10/1h (at most 10 messages an hour)", s)
	}
	per, err = sdk.ParseDuration(dur)
	if err != nil || per < time.Second {
		return 0, 0, fmt.Errorf("%q: want N/DURATION with a duration of at least 1s, such as 10/1h", s)
	}
	return n, per, nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL")
	}
	return nil
}

func checkHostPort(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return fmt.Errorf("want host:port")
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("want host:port with a port from 1 to 65535")
	}
	return nil
}

// checkAlerts checks [alerting], every [[notify]] and every [[alert]],
// each problem at its file, line and key.
func (c *Config) checkAlerts(loc *locator) []error {
	var errs []error
	for _, p := range c.checkAlerting() {
		errs = append(errs, &Error{File: c.File, Line: loc.line("alerting", 0, p.key), Key: p.key, Msg: p.msg})
	}
	receivers := map[string]bool{}
	seen := map[string]int{}
	for i := range c.Notify {
		n := &c.Notify[i]
		for _, p := range n.Check() {
			errs = append(errs, c.entryError(loc, "notify", i, p, fmt.Sprintf("notify %q: ", n.Name)))
		}
		if first, dup := seen[n.Name]; dup && n.Name != "" {
			errs = append(errs, c.entryError(loc, "notify", i, problem{"name", fmt.Sprintf("duplicate notify name %q (first defined on line %d)", n.Name, c.Notify[first].Line)}, ""))
		} else {
			seen[n.Name] = i
		}
		receivers[n.Name] = true
	}
	clear(seen)
	for i := range c.Alerts {
		r := &c.Alerts[i]
		for _, p := range r.Check(receivers) {
			errs = append(errs, c.entryError(loc, "alert", i, p, fmt.Sprintf("alert %q: ", r.Name)))
		}
		if first, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, c.entryError(loc, "alert", i, problem{"name", fmt.Sprintf("duplicate alert name %q (first defined on line %d)", r.Name, c.Alerts[first].Line)}, ""))
		} else {
			seen[r.Name] = i
		}
	}
	return errs
}

// entryError locates a problem with key of the index-th [[table]].
func (c *Config) entryError(loc *locator, table string, index int, p problem, prefix string) *Error {
	key := table + "." + p.key
	return &Error{File: c.File, Line: loc.nestedLine(table, index, key), Key: key, Msg: prefix + p.msg}
}

// NotifySecrets reads the index-th receiver's webhook secret, bearer
// token and SMTP password, from their files where those are set. A file
// that is missing, a folder, or empty is an error naming its key: a
// receiver must not silently send unsigned or unauthenticated.
func (c *Config) NotifySecrets(index int) (secret, token, password string, err error) {
	n := c.Notify[index]
	errorf := func(key, format string, args ...any) *Error {
		e := &Error{File: c.File, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)}
		if c.loc != nil {
			e.Line = c.loc.nestedLine("notify", index, key)
		}
		return e
	}
	secret, token, password = n.Secret, n.Token, n.Password
	read := func(file, key string, into *string) {
		if file == "" || err != nil {
			return
		}
		*into, err = readToken(c.Path(file), key, errorf)
	}
	read(n.SecretFile, "notify.secret_file", &secret)
	read(n.TokenFile, "notify.token_file", &token)
	read(n.PasswordFile, "notify.password_file", &password)
	return secret, token, password, err
}

// ParseAnnotation reads an [[alert]] annotation: text, with Go template
// actions over the alert ({{.Labels.mount}}, {{printf "%.1f" .Value}},
// {{.Threshold}}, {{.Clear}}, {{.Rule}}).
func ParseAnnotation(text string) (*template.Template, error) {
	t, err := template.New("annotation").Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", text, err)
	}
	return t, nil
}
