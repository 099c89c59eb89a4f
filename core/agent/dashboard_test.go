//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/godbus/dbus/v5"

	"github.com/barbossa-agent/barbossa/core/builtinwasm"
	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// artifactDir is where the dashboard test leaves its screenshots:
// $BARBOSSA_ARTIFACTS, else a fixed folder under the temp dir (replaced at
// every run, so runs do not pile up).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("BARBOSSA_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "barbossa-artifacts")
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// TestDashboardInChromium drives the real page in a real Chromium against a
// running agent with a real tmux server, the test rig's dockerd and a booted
// systemd: the login flow, host values and charts with points, a rule with
// no data, a tmux session created during the test showing up live, a
// container restart and a unit's stop and start clicked in the page
// happening in dockerd and systemd, a custom probe dropped into probes.d in a pane of its
// own, a refused drop-in and a refused new version shown where they went
// wrong, no request beyond loopback, no console error, and no horizontal
// scroll on a 390 px phone.
func TestDashboardInChromium(t *testing.T) {
	if _, err := builtinwasm.Bundle(); err != nil {
		t.Fatalf("%v: the dashboard test runs the built-in WASM probes (make wasm)", err)
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		if testenv.InCI() {
			t.Fatalf("tmux is not installed; CI requires it: %v", err)
		}
		t.Skipf("tmux is not installed: %v", err)
	}
	browser := testenv.StartChromium(t, 1280, 1000)
	sd := testenv.StartSystemd(t)
	d := testenv.StartDocker(t)
	web := d.Container(t, testenv.ContainerSpec{Name: "web-1"})
	d.Container(t, testenv.ContainerSpec{Name: "job", State: testenv.Exited, ExitCode: 2})

	sockDir, err := os.MkdirTemp("", "dash-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	tmuxSock := filepath.Join(sockDir, "s")
	tmux := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("tmux", append([]string{"-S", tmuxSock}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, b)
		}
	}
	tmux("new-session", "-d", "-s", "editor", "sleep 3600")
	t.Cleanup(func() { exec.Command("tmux", "-S", tmuxSock, "kill-server").Run() })
	noBus := "unix:path=" + filepath.Join(sockDir, "no-bus")

	// Two drop-ins as a user writes them outside this repository: a probe
	// of its own kind (the page has no pane made for it), and one whose
	// TOML has a misspelt key, refused.
	defer func(d time.Duration) { dropInPoll = d }(dropInPoll)
	dropInPoll = 200 * time.Millisecond
	dir := t.TempDir()
	drop := filepath.Join(dir, "probes.d")
	backups := staticModule(t, "backups", `{"status":"warn","message":"one job is late",`+
		`"metrics":[{"name":"backups.age_hours","value":26,"labels":{"job":"photos"}}],`+
		`"entities":[{"kind":"backup_job","id":"photos","name":"photos","state":"late","health":"warn","attrs":{"target":"nas-01","files":1200}}]}`)
	for name, data := range map[string][]byte{
		"backups.wasm": backups,
		"backups.toml": []byte("interval = \"1s\"\ntimeout = \"900ms\"\n"),
		"broken.wasm":  backups,
		"broken.toml":  []byte("interval = \"1s\"\n[allow]\nexecc = [\"sh\"]\n"),
	} {
		if err := os.MkdirAll(drop, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(drop, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	const token = "dash-s3cret"
	base, logs, _, _ := startAgentWith(t, dir, fmt.Sprintf(`
[agent]
probes_dir = "probes.d"
[portal]
listen = "127.0.0.1:0"
token = %q
[portal.actions]
containers = ["web-*"]
units = ["barbossa-test-*.service"]
socket = %q
bus = %q
timeout = "30s"
[store]
flush_interval = "100ms"
[[probe]]
name = "system"
interval = "1s"
timeout = "900ms"
[[probe]]
name = "tmux"
runtime = "wasm"
source = "builtin:tmux"
interval = "1s"
timeout = "900ms"
max_memory = "16MiB"
[probe.allow]
exec = ["tmux"]
[probe.config]
socket = %q
[[probe]]
name = "docker"
runtime = "wasm"
source = "builtin:docker"
interval = "2s"
timeout = "1900ms"
max_memory = "32MiB"
[probe.allow]
http = ["GET unix://%s /containers/json /containers/*/json /containers/*/stats"]
[probe.config]
socket = %q
[[probe]]
name = "systemd"
runtime = "wasm"
source = "builtin:systemd"
interval = "5s"
timeout = "2s"
max_memory = "32MiB"
[probe.allow]
dbus = ["%s org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits"]
[probe.config]
bus = %q
[[probe]]
name = "units"
runtime = "wasm"
source = "builtin:systemd"
interval = "2s"
timeout = "1900ms"
max_memory = "32MiB"
[probe.allow]
dbus = ["%[9]s org.freedesktop.systemd1 org.freedesktop.systemd1.Manager.ListUnits", "%[9]s org.freedesktop.systemd1 org.freedesktop.DBus.Properties.Get"]
[probe.config]
bus = %[9]q
patterns = ["barbossa-test-*"]
[[alert]]
name = "load-sky-high"
series = 'system.load.1{probe="system"}'
above = 100000
[[alert]]
name = "nobody-reports-this"
series = "no.such.metric"
above = 1
`, token, d.Socket(), sd.BusAddress(), tmuxSock, d.Socket(), d.Socket(), noBus, noBus, sd.BusAddress()))
	waitFor(t, 30*time.Second, "three system reports and the docker probe's", func() bool {
		var p struct{ Runs int }
		var dk struct{ Report *struct{} }
		getJSONAuth(t, base+"/api/v1/probes/system", token, &p)
		getJSONAuth(t, base+"/api/v1/probes/docker", token, &dk)
		return p.Runs >= 3 && dk.Report != nil
	})
	shots := artifactDir(t)

	// Every request the browser makes, and every console message.
	var mu sync.Mutex
	var requests []string
	if _, err := chromedp.Call(browser, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	lctx, stopListen := context.WithCancel(browser)
	defer stopListen()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	var consoleMsgs []chromedp.ConsoleMessage
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range chromedp.Console(lctx) {
			if err != nil {
				return
			}
			mu.Lock()
			consoleMsgs = append(consoleMsgs, m)
			mu.Unlock()
		}
	}()

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nagent log:\n%s", what, err, tail(logs.String(), 3000))
		}
	}
	eval := func(expr string, opts ...chromedp.EvaluateOption) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, opts...))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	evalAsync := func(expr string) string { t.Helper(); return eval(expr, chromedp.EvalAwaitPromise) }
	poll := func(what, expr string, within time.Duration) time.Duration {
		t.Helper()
		began := time.Now()
		ctx, cancel := context.WithTimeout(browser, within+5*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		return time.Since(began)
	}
	shot := func(name string, full bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		take := chromedp.CaptureScreenshot()
		if full {
			take = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, take)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Login: the page sends the browser to the form; a wrong token is
	// refused with a message; the right one opens the dashboard.
	run("open the page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if loc := eval("location.pathname"); loc != "/login" {
		t.Fatalf("without a session the page is at %q, want /login", loc)
	}
	shot("login", false)
	run("a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-it"), chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if msg := eval(`document.getElementById("login-error").textContent`); msg != "Wrong token." {
		t.Errorf("login error %q", msg)
	}
	run("sign in", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#card-cpu")))
	if eval("document.cookie") != "" {
		t.Error("the session cookie is readable by the page's script: want HttpOnly")
	}

	// Host values and charts with points.
	poll("host values", `/\d/.test(document.getElementById("val-cpu").textContent) && /\d/.test(document.getElementById("val-mem").textContent) && /\d/.test(document.getElementById("val-load").textContent)`, 10*time.Second)
	poll("network rates", `/\d/.test(document.getElementById("val-net").textContent)`, 10*time.Second)
	poll("the CPU chart with points", `(() => { const p = document.querySelector("#chart-grid .plot[data-points]"); return !!p && Number(p.dataset.points) > 1 && !!p.querySelector("canvas"); })()`, 15*time.Second)
	poll("a rate chart with points", `[...document.querySelectorAll("#chart-grid .chart")].some(c => c.textContent.includes("Network") && Number((c.querySelector(".plot")||{dataset:{}}).dataset.points) > 0)`, 15*time.Second)
	poll("the sparklines", `document.querySelectorAll(".spark canvas").length >= 4`, 15*time.Second)
	poll("the docker pane with its containers", `!!document.querySelector('button[data-act="restart"][data-target="web-1"]')`, 10*time.Second)
	// The agent's own listening port, in the system probe's ports table.
	port := base[strings.LastIndex(base, ":")+1:]
	poll("the agent's port in the listening ports", fmt.Sprintf(`[...document.querySelectorAll("#probe-system tr")].some(r => r.cells.length > 3 && r.cells[0].textContent === %q && r.cells[2].textContent === "127.0.0.1")`, port), 10*time.Second)
	if txt := eval(`document.getElementById("probe-systemd").textContent`); !strings.Contains(txt, "not present") {
		t.Errorf("the systemd pane with no systemd says %q, want not present", txt)
	}
	if st := eval(`document.getElementById("overall").textContent`); st == "unknown" {
		t.Errorf("overall status %q: an absent systemd must not make it unknown", st)
	}
	poll("the alert rules", `!!document.querySelector('#alerts tr[data-rule="load-sky-high"]')`, 10*time.Second)
	// A rule on a series nobody reports says so on the page: never a
	// silent no-op.
	poll("the rule with no data", `(() => { const r = document.querySelector('#alerts tr[data-rule="nobody-reports-this"]'); return !!r && r.textContent.includes("no data"); })()`, 10*time.Second)

	// The drop-ins: the custom probe's entity and metric in a pane of its
	// own, and the refused one in a pane saying where it went wrong.
	poll("the custom probe's pane", `(() => { const p = document.getElementById("probe-backups"); return !!p && ["photos", "backup_job", "nas-01", "backups.age_hours", "job=photos", "one job is late"].every(w => p.textContent.includes(w)); })()`, 15*time.Second)
	brokenAt := filepath.Join(drop, "broken.toml") + ":3"
	poll("the refused drop-in's pane", fmt.Sprintf(`(() => { const p = document.querySelector('article.refused[data-dropin=%q]'); return !!p && [%q, "refused", "allow.execc: unknown key"].every(w => p.textContent.includes(w)); })()`, filepath.Join(drop, "broken.toml"), brokenAt), 10*time.Second)
	shot("desktop", true)
	// A bad new version of the running drop-in: its pane says so and the
	// previous version runs on.
	if err := os.WriteFile(filepath.Join(drop, "backups.toml"), []byte("interval = \"400ms\"\ntimeout = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll("the refused new version in the custom probe's pane", `(() => { const n = document.querySelector("#probe-backups .dropin-error"); return !!n && n.textContent.includes("new version refused") && n.textContent.includes("must be shorter than interval"); })()`, 15*time.Second)
	if txt := eval(`document.getElementById("probe-backups").textContent`); !strings.Contains(txt, "photos") {
		t.Errorf("after a refused new version the custom probe's pane lost its entity: %q", txt)
	}

	// Drag to zoom: a real mouse drag across the CPU chart narrows its time
	// range to the stretch dragged over; a double click goes back to the
	// range asked for. window.barbossaCharts is the page's chart list.
	const cpu = `window.barbossaCharts().find(c => c.def.title === "CPU %")`
	xRange := func() (from, to, asked0, asked1 float64) {
		t.Helper()
		var v []float64
		if err := json.Unmarshal([]byte(eval(`(() => { const c = `+cpu+`; return JSON.stringify([c.plot.scales.x.min, c.plot.scales.x.max, c.window[0], c.window[1]]); })()`)), &v); err != nil || len(v) != 4 {
			t.Fatalf("the CPU chart's range: %v %v", v, err)
		}
		return v[0], v[1], v[2], v[3]
	}
	run("scroll to the charts", chromedp.ScrollIntoView(chromedp.CSS("#chart-grid .chart:first-child .u-over")))
	if from, to, asked0, asked1 := xRange(); from != asked0 || to != asked1 || to-from < 3000 {
		t.Fatalf("before the drag the CPU chart shows %v..%v, want the range asked for, %v..%v", from, to, asked0, asked1)
	}
	var box []float64
	if err := json.Unmarshal([]byte(eval(`JSON.stringify((r => [r.left, r.top, r.width, r.height])(document.querySelector("#chart-grid .chart:first-child .u-over").getBoundingClientRect()))`)), &box); err != nil || len(box) != 4 || box[2] < 100 {
		t.Fatalf("the CPU chart's plot area: %v %v", box, err)
	}
	// From 90 % of the width to its right edge: the last tenth of the
	// range, where this test's data is.
	run("drag across the CPU chart", chromedp.DragAndDropXY(box[0]+0.9*box[2], box[1]+box[3]/2, box[0]+box[2]-2, box[1]+box[3]/2))
	// (Against the range asked for as it is now: the page reloads an
	// unzoomed chart every minute, which may have happened just before.)
	zFrom, zTo, from, to := xRange()
	if width := (zTo - zFrom) / (to - from); zFrom <= from || zTo > to || width < 0.07 || width > 0.12 {
		t.Errorf("after dragging over the last tenth the CPU chart shows %v..%v (%.3f of %v..%v)", zFrom, zTo, width, from, to)
	}
	if note := eval(cpu + `.el.querySelector(".range-note").textContent`); !strings.Contains(note, "double-click to reset") {
		t.Errorf("a zoomed chart's header says %q", note)
	}
	shot("zoomed", false)

	// No chart's y axis repeats a label, as drawn, zoomed, and on narrow
	// ranges set on every chart (a % axis from 45.1 to 45.13 read
	// "45%, 45%, 45%" before the labels followed the tick increment).
	if bad := evalAsync(`(async () => {
		const bad = [];
		const check = (what) => window.barbossaCharts().filter(c => c.plot).forEach(c => {
			const l = c.yTicks || [];
			if (l.length < 2) bad.push(c.def.title + " " + what + ": ticks " + JSON.stringify(l));
			if (l.some((v, i) => i && v === l[i - 1])) bad.push(c.def.title + " " + what + ": " + JSON.stringify(l));
		});
		check("as drawn");
		for (const [lo, hi] of [[45.1, 45.13], [0.7, 0.702], [1.5e6, 1.5e6 + 3000]]) {
			window.barbossaCharts().filter(c => c.plot).forEach(c => c.plot.setScale("y", { min: lo, max: hi }));
			await new Promise(r => setTimeout(r, 0));
			check("on " + lo + ".." + hi);
			const pct = ` + cpu + `.yTicks;
			if (lo === 45.1 && !pct.every(l => /^45\.1\d*%$/.test(l))) bad.push("the CPU chart on 45.1..45.13 did not redraw its axis: " + JSON.stringify(pct));
		}
		return bad.join("\n");
	})()`); bad != "" {
		t.Errorf("y-axis labels:\n%s", bad)
	}

	run("double-click the zoomed chart", chromedp.DoubleClick(chromedp.CSS("#chart-grid .chart:first-child .u-over")))
	if rFrom, rTo, _, _ := xRange(); rFrom != from || rTo != to {
		t.Errorf("after a double click the CPU chart shows %v..%v, want the range asked for, %v..%v", rFrom, rTo, from, to)
	}
	if note := eval(cpu + `.el.querySelector(".range-note").textContent`); !strings.HasPrefix(note, "last 1h") {
		t.Errorf("after the reset the chart's header says %q", note)
	}

	// The range buttons: 15m redraws every chart over the last 15 minutes;
	// the pointer over the CPU chart's newest points shows their values in
	// its legend. Then back to 1h.
	run("the 15m range", chromedp.Click(chromedp.CSS(`#ranges button[data-range="15m"]`)))
	poll("the charts over 15 minutes", `window.barbossaCharts().every(c => !c.plot || (c.note || "").startsWith("last 15m")) && (c => !!c && !!c.window && c.window[1] - c.window[0] === 900)(`+cpu+`)`, 15*time.Second)
	if p := eval(`document.querySelector('#ranges button[data-range="15m"]').getAttribute("aria-pressed")`); p != "true" {
		t.Errorf("the 15m button is not shown pressed (%q)", p)
	}
	if err := json.Unmarshal([]byte(eval(`JSON.stringify((r => [r.left, r.top, r.width, r.height])(document.querySelector("#chart-grid .chart:first-child .u-over").getBoundingClientRect()))`)), &box); err != nil || len(box) != 4 {
		t.Fatalf("the CPU chart's plot area: %v %v", box, err)
	}
	// A chart redrawn under a still pointer shows no values until the
	// pointer moves again, so the pointer moves until the legend has them.
	legend := cpu + `.el.querySelectorAll(".u-legend .u-value").length > 1 && [...` + cpu + `.el.querySelectorAll(".u-legend .u-series:not(:first-child) .u-value")].some(v => /\d/.test(v.textContent))`
	for i := 0; ; i++ {
		run("hover the newest points", chromedp.MouseEvent(chromedp.MouseMoved, box[0]+box[2]-1-float64(i%2), box[1]+box[3]/2))
		if eval("String("+legend+")") == "true" {
			break
		}
		if i == 100 {
			t.Fatalf("no values in the CPU chart's legend with the pointer over its newest points: %q", eval(cpu+`.el.querySelector(".u-legend").textContent`))
		}
		time.Sleep(100 * time.Millisecond) // the page's redraw, in a real browser: no fake clock reaches it
	}
	run("back to 1h", chromedp.Click(chromedp.CSS(`#ranges button[data-range="1h"]`)))
	poll("the charts over an hour", `(c => !!c && !!c.window && c.window[1] - c.window[0] === 3600)(`+cpu+`)`, 15*time.Second)

	// A tmux session created now shows up without a reload, within 2 s of
	// the tmux probe's report that has it: the page's latency. When the
	// probe's next run comes depends on how busy the machine is, not on
	// the page.
	eval(`window.__noReload = "still here"; ""`)
	created := time.Now()
	tmux("new-session", "-d", "-s", "fresh-session", "sleep 3600")
	waitFor(t, 30*time.Second, "the tmux probe's report of the new session", func() bool {
		var p wasmProbeJSON
		getJSONAuth(t, base+"/api/v1/probes/tmux", token, &p)
		if p.Report == nil {
			return false
		}
		for _, e := range p.Report.Entities {
			if e.ID == "fresh-session" {
				return true
			}
		}
		return false
	})
	reported := time.Now()
	poll("the new tmux session", `!!document.querySelector('tr[data-session="fresh-session"]')`, 2*time.Second)
	t.Logf("a new tmux session was reported %s after it was created, and appeared in the page %s later", reported.Sub(created).Round(time.Millisecond), time.Since(reported).Round(time.Millisecond))
	if v := eval(`String(window.__noReload)`); v != "still here" {
		t.Errorf("the page reloaded (marker %q)", v)
	}

	// Live updates patch the page in place: the button a user is about to
	// click is the same node after the next status arrives (replacing it
	// would swallow a click that lands between press and release).
	eval(`document.querySelector('button[data-act="restart"][data-target="web-1"]').marked = true; window.__version = document.body.dataset.version; ""`)
	poll("the next status update", `document.body.dataset.version !== window.__version`, 30*time.Second)
	if v := eval(`String(document.querySelector('button[data-act="restart"][data-target="web-1"]').marked === true)`); v != "true" {
		t.Error("a status update replaced the restart button instead of patching it: a click in flight would be lost")
	}

	// Restart a container from the page: confirm, see the result, and
	// dockerd has restarted it.
	before := d.Inspect(t, web.ID)
	run("restart web-1", chromedp.Click(chromedp.CSS(`button[data-act="restart"][data-target="web-1"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")))
	if txt := eval(`document.getElementById("confirm-title").textContent`); txt != "Restart web-1?" {
		t.Errorf("confirmation %q", txt)
	}
	shot("confirm", false)
	run("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	poll("the action's result", `[...document.querySelectorAll(".toast")].some(e => /restart web-1: done/.test(e.textContent))`, 40*time.Second)
	after := d.Inspect(t, web.ID)
	if after.State.Pid == before.State.Pid || !after.State.Running {
		t.Errorf("web-1 was not restarted in dockerd: pid %d -> %d, running %v", before.State.Pid, after.State.Pid, after.State.Running)
	}
	poll("the restart in the events", `document.getElementById("timeline").textContent.includes("restart requested")`, 10*time.Second)

	// Stop a unit of the booted systemd from the page, then start it again:
	// the buttons follow the unit's state as the probe reports it, and
	// systemd has done each.
	unit := testenv.RunningUnit
	activeState := func() string {
		t.Helper()
		conn := sd.Connect(t)
		var path dbus.ObjectPath
		if err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").Call("org.freedesktop.systemd1.Manager.GetUnit", 0, unit).Store(&path); err != nil {
			t.Fatal(err)
		}
		v, err := conn.Object("org.freedesktop.systemd1", path).GetProperty("org.freedesktop.systemd1.Unit.ActiveState")
		if err != nil {
			t.Fatal(err)
		}
		return v.Value().(string)
	}
	for _, step := range []struct{ verb, want string }{{"stop", "inactive"}, {"start", "active"}} {
		button := fmt.Sprintf(`button[data-act=%q][data-target=%q]`, step.verb, unit)
		poll("the "+step.verb+" button of "+unit, `!!document.querySelector('`+button+`')`, 30*time.Second)
		run(step.verb+" "+unit, chromedp.Click(chromedp.CSS(button)), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")))
		if txt := eval(`document.getElementById("confirm-title").textContent`); !strings.Contains(txt, unit) {
			t.Errorf("confirmation %q", txt)
		}
		run("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		poll("the "+step.verb+" result", fmt.Sprintf(`[...document.querySelectorAll(".toast")].some(e => e.textContent.includes(%q))`, step.verb+" "+unit+": done"), 40*time.Second)
		if got := activeState(); got != step.want {
			t.Errorf("after %s from the page %s is %s in systemd, want %s", step.verb, unit, got, step.want)
		}
	}

	// The filter box narrows the panes.
	run("filter", chromedp.SendKeys(chromedp.CSS("#filter"), "fresh-session"))
	poll("filtered", `!!document.querySelector('tr[data-session="fresh-session"]') && !document.querySelector('tr[data-session="editor"]')`, 5*time.Second)
	eval(`(() => { const f = document.getElementById("filter"); f.value = ""; f.dispatchEvent(new Event("input")); return ""; })()`)
	poll("unfiltered", `!!document.querySelector('tr[data-session="editor"]')`, 5*time.Second)

	// Dark mode, from prefers-color-scheme.
	if _, err := chromedp.Call(browser, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	if bg := eval(`getComputedStyle(document.body).backgroundColor`); bg != "rgb(14, 17, 22)" {
		t.Errorf("dark mode background %q", bg)
	}
	shot("desktop-dark", true)
	if _, err := chromedp.Call(browser, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}

	// A long message is on screen during the phone check, whatever the
	// restart's own toast is doing by then: toasts must fit a phone too.
	eval(`(() => { const t = document.createElement("div"); t.className = "toast crit"; t.textContent = "restart web-1: failed: " + "x".repeat(300) + " and more words to wrap"; document.getElementById("toasts").appendChild(t); return ""; })()`)
	// A phone: 390 px wide, no horizontal scroll.
	run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	// Charts and sparklines are redrawn at their new width after a
	// debounced resize (sparklines after their queries): wait until each fits
	// its box, so the screenshot shows the page as a phone user sees it.
	poll("the charts redrawn for the phone", `[...document.querySelectorAll(".uplot")].every(u => u.getBoundingClientRect().width <= u.parentElement.clientWidth + 1)`, 20*time.Second)
	// A mobile browser widens its layout to fit what overflows (and zooms
	// out), so the check is against 390 px, not innerWidth; and no box may
	// reach past the screen's edge, even one whose overflow is hidden.
	if w := eval(`String(document.documentElement.scrollWidth) + "/" + String(window.innerWidth)`); w != "390/390" {
		t.Errorf("at 390 px the page is %s px wide (scrollWidth/innerWidth): it scrolls sideways", w)
	}
	if over := eval(`[...document.querySelectorAll("body *")].filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > 391 && !e.closest(".table-wrap, .uplot, dialog"); }).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join("; ")`); over != "" {
		t.Errorf("at 390 px these reach past the screen: %s", over)
	}
	shot("phone", false)
	run("phone, the probes", chromedp.ScrollIntoView(chromedp.CSS("#probes")))
	shot("phone-probes", false)
	run("desktop again", chromedp.EmulateViewport(1280, 1000))

	// Logout ends the session: the page is the login form again.
	run("sign out", chromedp.Click(chromedp.CSS("#logout button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	run("reopen", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))

	// Nothing left loopback, and the console stayed clean.
	stopListen()
	<-consoleDone
	mu.Lock()
	defer mu.Unlock()
	if len(requests) < 10 {
		t.Errorf("only %d requests recorded", len(requests))
	}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Hostname() != "127.0.0.1") {
			t.Errorf("a request left loopback: %s", r)
		}
	}
	for _, m := range consoleMsgs {
		// The wrong token above is answered 401, which the browser logs.
		expected := m.Source == "network" && strings.HasSuffix(m.URL, "/login") && strings.Contains(m.Text, "401")
		if (m.Type == "error" || m.IsException()) && !expected {
			t.Errorf("console: %s (%s)", m, m.URL)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
