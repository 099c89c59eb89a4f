// Barbossa dashboard: one page, everything from the agent's own API.
// The status comes live from /api/v1/stream (server-sent events, a new
// body the moment a probe reports); history from /api/v1/query; charts are
// drawn by the vendored uPlot. No other host is ever contacted.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    status: null,
    session: { auth: "none", actions: { enabled: false, units: [], containers: [] } },
    filter: "",
    range: localStorage.getItem("barbossa.range") || "1h",
    custom: JSON.parse(localStorage.getItem("barbossa.charts") || "[]"),
    seriesProbe: false, // the API names series' probes (series namespaced by probe)
    events: null, // a longer list than the status carries, once asked for
    alertsURL: null, // /api/v1/alerts when the agent has it
    prevSys: null, // the previous system report, for live rates
    rates: {},
    charts: [],
    showAll: {},
    lastUpdate: 0,
  };
  const RANGES = ["15m", "1h", "6h", "24h", "7d", "30d"];
  const PALETTE = ["#2f6fde", "#e8590c", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad", "#f08c00", "#5c7cfa", "#66a80f", "#d6336c"];

  // ---- patching the page ------------------------------------------------
  // A live update rewrites only what changed, in place: a button under the
  // pointer, a focused control, a scrolled table or an opened <details>
  // stays the same node while its values change, so a click is never lost
  // to a re-render that happens to land between press and release.
  const keyOf = (n) => (n.nodeType === 1 ? n.id || n.getAttribute("data-probe") || n.getAttribute("data-session") || n.getAttribute("data-rule") ||
    n.getAttribute("data-target") || n.getAttribute("data-dropin") || "" : "");
  function patch(el, html) {
    const next = document.createElement(el.tagName);
    next.innerHTML = html;
    patchChildren(el, next);
  }
  function patchChildren(from, to) {
    const want = [...to.childNodes];
    want.forEach((n, i) => {
      const o = from.childNodes[i];
      if (!o) from.appendChild(n);
      else if (o.nodeType !== n.nodeType || o.nodeName !== n.nodeName || keyOf(o) !== keyOf(n)) from.replaceChild(n, o);
      else if (o.nodeType === 1) patchNode(o, n);
      else if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
    });
    while (from.childNodes.length > want.length) from.removeChild(from.lastChild);
  }
  function patchNode(o, n) {
    for (const a of [...o.attributes]) {
      if (!n.hasAttribute(a.name) && !(a.name === "open" && o.userToggled) && a.name !== "style") o.removeAttribute(a.name);
    }
    for (const a of n.attributes) {
      if (a.name === "open" && o.userToggled) continue; // the user's choice wins
      if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
    }
    patchChildren(o, n);
  }
  document.addEventListener("click", (ev) => { const s = ev.target.closest && ev.target.closest("summary"); if (s) s.parentElement.userToggled = true; }, true);

  // ---- formatting -------------------------------------------------------
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  function fmtBytes(b, per) {
    if (b == null || !isFinite(b)) return "–";
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let v = Math.abs(b);
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    const s = (v >= 100 || i === 0 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + " " + u[i];
    return (b < 0 ? "-" : "") + s + (per ? "/s" : "");
  }
  function fmtNum(v, digits) {
    if (v == null || !isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return v.toFixed(digits ?? (a >= 100 || Number.isInteger(v) ? 0 : a >= 10 ? 1 : 2));
  }
  const fmtPct = (v) => (v == null || !isFinite(v) ? "–" : v.toFixed(v >= 10 ? 0 : 1) + " %");
  function fmtDur(s) {
    if (s == null || !isFinite(s)) return "–";
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + (s % 60) + "s";
    return s + "s";
  }
  function ago(t) {
    if (!t) return "never";
    const s = (Date.now() - new Date(t).getTime()) / 1000;
    if (s < 2) return "just now";
    return fmtDur(s) + " ago";
  }
  function fmtTime(t) {
    const d = new Date(t);
    const today = new Date().toDateString() === d.toDateString();
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return today ? hm : d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm;
  }
  // A state word, with the colour of its severity: text first, colour second.
  function badge(word, sev) {
    return '<span class="badge ' + esc(sev || sevOf(word)) + '">' + esc(word) + "</span>";
  }
  function sevOf(word) {
    switch (word) {
      case "ok": case "running": case "active": case "attached": case "listening": case "fresh": return "ok";
      case "warn": case "stale": case "pending": case "failing": case "timeout": case "paused": case "restarting": return "warn";
      case "crit": case "failed": case "dead": return "crit";
    }
    return "unknown";
  }
  // A drop-in's file as the agent names it: /etc/barbossa/probes.d/x.toml:2.
  const fileLine = (d) => d.file + (d.line ? ":" + d.line : "");
  const labelText = (l) => Object.keys(l || {}).sort().map((k) => k + "=" + l[k]).join(", ");

  // ---- API --------------------------------------------------------------
  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, opts || {}));
    if (r.status === 401) {
      location.href = "/login";
      throw new Error("not signed in");
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(body.error || r.status + " " + r.statusText);
      e.status = r.status;
      e.body = body;
      throw e;
    }
    return body;
  }
  // A series selector, as the query parameter takes it.
  function selector(name, labels, probe) {
    const l = Object.assign({}, labels || {});
    if (probe && state.seriesProbe) l.probe = probe;
    const keys = Object.keys(l).sort();
    if (!keys.length) return name;
    return name + "{" + keys.map((k) => k + '="' + String(l[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"').join(",") + "}";
  }
  async function query(sels, opt) {
    const p = new URLSearchParams();
    sels.forEach((s) => p.append("series", s));
    p.set("range", opt.range);
    if (opt.step) p.set("step", opt.step);
    if (opt.rate) p.set("fn", "rate");
    return api("/api/v1/query?" + p.toString());
  }

  // ---- the system probe's report ----------------------------------------
  function systemProbe(st) {
    const ps = (st && st.probes) || [];
    return ps.find((p) => p.name === "system" && p.source === "builtin:system") || ps.find((p) => p.source === "builtin:system") || null;
  }
  function metricsOf(report) {
    const out = { all: (report && report.metrics) || [] };
    out.get = (name, labels) => {
      const want = labels || {};
      const m = out.all.find((x) => x.name === name && Object.keys(want).every((k) => (x.labels[k] || "") === want[k]) &&
        (labels !== undefined || Object.keys(x.labels).length === 0));
      return m ? m.value : null;
    };
    out.each = (name) => out.all.filter((x) => x.name === name);
    out.sum = (name, skip) => out.each(name).filter((x) => !(skip && skip(x.labels))).reduce((a, x) => a + x.value, 0);
    return out;
  }
  const notLoopback = (l) => l.interface === "lo" || /^lo\d*$/.test(l.interface || "");
  // Counters whose live rates the overview shows, from two consecutive reports.
  const RATE_COUNTERS = {
    rx: ["system.net.bytes_recv", notLoopback], tx: ["system.net.bytes_sent", notLoopback],
    rd: ["system.diskio.read_bytes"], wr: ["system.diskio.write_bytes"],
    rops: ["system.diskio.reads"], wops: ["system.diskio.writes"],
  };
  function updateRates(sys) {
    if (!sys || !sys.report) return;
    const m = metricsOf(sys.report);
    const cur = { t: new Date(sys.report.time).getTime(), v: {} };
    for (const k in RATE_COUNTERS) cur.v[k] = m.sum(RATE_COUNTERS[k][0], RATE_COUNTERS[k][1]);
    const prev = state.prevSys;
    if (prev && cur.t > prev.t) {
      const dt = (cur.t - prev.t) / 1000;
      for (const k in cur.v) {
        const inc = cur.v[k] - prev.v[k];
        state.rates[k] = (inc < 0 ? cur.v[k] : inc) / dt;
      }
    }
    if (!prev || cur.t > prev.t) state.prevSys = cur;
  }

  // ---- header, alerts -----------------------------------------------------
  function renderHeader(st) {
    const h = st.host || {};
    $("host-name").textContent = h.hostname || "this host";
    const bits = [];
    if (h.platform) bits.push(h.platform + (h.platform_version ? " " + h.platform_version : ""));
    if (h.kernel) bits.push("kernel " + h.kernel);
    if (h.cpus) bits.push(h.cpus + " CPUs");
    bits.push("updated " + ago(st.generated_at));
    $("host-meta").textContent = bits.join(" · ");
    const o = $("overall");
    o.className = "badge big " + sevOf(st.status);
    o.textContent = st.status === "ok" ? "all ok" : st.status;
    document.title = (st.status === "ok" ? "" : "(" + st.status + ") ") + (h.hostname || "") + " · Barbossa";
    $("agent-version").textContent = "agent " + (h.agent_version || "?") + ", up " + fmtDur((Date.now() - new Date(h.started_at).getTime()) / 1000);
  }

  // The alerts panel shows the status' alerts (probes, reports, entities,
  // and the alert rules' firing alerts), and, where this agent runs alert
  // rules (/api/v1/alerts), how every rule stands.
  let alerting = null;
  async function loadAlerts() {
    if (!state.alertsURL) return;
    try {
      alerting = await api(state.alertsURL);
    } catch (e) {
      alerting = null;
    }
    if (state.status) renderAlerts(state.status);
  }
  const ruleSev = (s) => (/crit/.test(s) ? "crit" : /warn/.test(s) ? "warn" : "unknown");
  function renderAlerts(st) {
    const list = st.alerts || [];
    $("alerts-count").textContent = list.length ? "(" + list.length + ")" : "";
    let html = list.length ? list.map((a) => {
      const sev = a.severity || "warn";
      const what = a.kind === "dropin" ? "drop-in " + fileLine(a) + (a.probe ? " · " + a.probe : "")
        : [a.probe, a.name || a.entity || a.kind].filter(Boolean).join(" · ");
      const msg = [a.state, a.message].filter(Boolean).join(": ");
      return '<div class="panel alert ' + esc(sev) + '">' + badge(sev) + '<span class="what">' + esc(what) + '</span><span class="msg">' + esc(msg) + "</span></div>";
    }).join("") : '<div class="panel all-good">' + badge("ok") + " Nothing needs a look.</div>";
    const rules = (alerting && alerting.rules) || [];
    if (rules.length) {
      const rows = rules.map((r) => {
        const sev = r.state === "firing" ? ruleSev(r.severity) : r.state === "pending" ? "warn" : r.state === "inactive" ? "ok" : "unknown";
        return '<tr data-rule="' + esc(r.name) + '">' + td(esc(r.name), "name") + td(esc(r.severity)) + td(badge(r.state, sev)) +
          td('<span class="muted small">' + esc(r.watches) + "</span>") + td(r.active, "n") + "</tr>";
      });
      html += '<details class="panel rules"' + (rules.some((r) => r.state !== "inactive") ? " open" : "") + "><summary>Alert rules (" + rules.length + ")</summary>" +
        table([["Rule"], ["Severity"], ["State"], ["Watches"], ["Active", 1]], rows, "rules", rules.length) + "</details>";
    }
    patch($("alerts"), html);
  }

  // ---- overview cards ----------------------------------------------------
  const SPARKS = {
    cpu: { sels: [["system.cpu.percent", { cpu: "" }]], unit: "%" },
    mem: { sels: [["system.memory.used_percent"]], unit: "%" },
    swap: { sels: [["system.swap.used_percent"]], unit: "%" },
    load: { sels: [["system.load.1"]], unit: "" },
    net: { sels: [["system.net.bytes_recv"], ["system.net.bytes_sent"]], rate: true, sum: true, skip: notLoopback, unit: "B/s" },
    disk: { sels: [["system.diskio.read_bytes"], ["system.diskio.write_bytes"]], rate: true, sum: true, unit: "B/s" },
  };
  function sizeMeters(root) {
    root.querySelectorAll("[data-w]").forEach((e) => { e.style.width = e.dataset.w + "%"; });
  }
  function card(id, label, value, sub, extra) {
    return '<div class="panel card" id="card-' + id + '"><span class="label">' + esc(label) + '</span><span class="value" id="val-' + id + '">' + value +
      '</span><span class="sub">' + esc(sub) + "</span>" + (extra || "") + (SPARKS[id] ? '<div class="spark" id="spark-' + id + '"></div>' : "") + "</div>";
  }
  function meter(pct) {
    const cls = pct >= 90 ? "crit" : pct >= 75 ? "warn" : "";
    // The width is set from data-w after insertion: the page's CSP allows
    // no inline style attributes.
    return '<div class="meter ' + cls + '" role="img" aria-label="' + fmtPct(pct) + ' used"><span data-w="' + Math.min(100, Math.max(0, pct || 0)).toFixed(1) + '"></span></div>';
  }
  let cardsBuilt = false;
  function renderCards(st) {
    const sys = systemProbe(st);
    const el = $("cards");
    if (!sys || !sys.report) {
      el.innerHTML = '<div class="panel card"><span class="label">Host</span><span class="sub">' +
        esc(sys ? "waiting for the system probe's first report (" + sys.state + ")" : "no system probe is configured") + "</span></div>";
      cardsBuilt = false;
      return;
    }
    const m = metricsOf(sys.report);
    const h = st.host || {};
    const r = state.rates;
    const cpu = m.get("system.cpu.percent", {});
    const cores = m.each("system.cpu.percent").filter((x) => x.labels.cpu).length || h.cpus;
    const memT = m.get("system.memory.total_bytes"), memU = m.get("system.memory.used_bytes"), memA = m.get("system.memory.available_bytes");
    const swT = m.get("system.swap.total_bytes"), swU = m.get("system.swap.used_bytes");
    const conns = m.each("system.net.connections").reduce((a, x) => a + x.value, 0);
    const mounts = m.each("system.disk.used_percent").slice().sort((a, b) => (a.labels.mount || "").localeCompare(b.labels.mount || ""));
    const vals = {
      cpu: [fmtNum(cpu, 0) + "<small>%</small>", cores + " CPUs · iowait " + fmtPct(m.get("system.cpu.iowait_percent")) + " · steal " + fmtPct(m.get("system.cpu.steal_percent")), meter(cpu)],
      mem: [fmtNum(m.get("system.memory.used_percent"), 0) + "<small>%</small>", fmtBytes(memU) + " of " + fmtBytes(memT) + " · " + fmtBytes(memA) + " available", meter(m.get("system.memory.used_percent"))],
      swap: swT ? [fmtNum(m.get("system.swap.used_percent"), 0) + "<small>%</small>", fmtBytes(swU) + " of " + fmtBytes(swT), meter(m.get("system.swap.used_percent"))] : ["none", "no swap configured", ""],
      load: [fmtNum(m.get("system.load.1"), 2), "5m " + fmtNum(m.get("system.load.5"), 2) + " · 15m " + fmtNum(m.get("system.load.15"), 2) + " · " + fmtNum(m.get("system.processes.running")) + " running of " + fmtNum(m.get("system.processes")), ""],
      net: ["↓ " + fmtBytes(r.rx, true), "↑ " + fmtBytes(r.tx, true) + " · " + fmtNum(conns) + " TCP connections", ""],
      disk: [fmtBytes((r.rd ?? NaN) + (r.wr ?? NaN), true), "read " + fmtBytes(r.rd, true) + " · write " + fmtBytes(r.wr, true) + " · " + fmtNum((r.rops ?? NaN) + (r.wops ?? NaN), 0) + " IOPS", ""],
      up: [fmtDur(m.get("system.uptime_seconds") ?? h.uptime_seconds), "booted " + (h.boot_time ? fmtTime(h.boot_time) : "–") + " · " + (h.os || "") + " " + (h.arch || ""), ""],
    };
    const mountHTML = mounts.length ? '<div class="mounts">' + mounts.map((x) => {
      const total = m.get("system.disk.total_bytes", { mount: x.labels.mount, device: x.labels.device, fstype: x.labels.fstype || "" });
      const used = m.get("system.disk.used_bytes", { mount: x.labels.mount, device: x.labels.device, fstype: x.labels.fstype || "" });
      return '<div class="mount"><span class="path" title="' + esc(x.labels.device) + '">' + esc(x.labels.mount) + '</span><span class="num">' + fmtPct(x.value) +
        (total ? ' <span class="muted">' + fmtBytes(used) + " / " + fmtBytes(total) + "</span>" : "") + "</span>" + meter(x.value) + "</div>";
    }).join("") + "</div>" : '<span class="sub">no filesystems reported</span>';
    if (!cardsBuilt) {
      const names = { cpu: "CPU", mem: "Memory", swap: "Swap", load: "Load", net: "Network", disk: "Disk I/O", up: "Uptime" };
      el.innerHTML = Object.keys(names).map((k) => card(k, names[k], vals[k][0], vals[k][1], '<div class="meterbox">' + vals[k][2] + "</div>")).join("") +
        '<div class="panel card wide" id="card-disks"><span class="label">Disk use</span><div id="mounts-box">' + mountHTML + "</div></div>";
      cardsBuilt = true;
      sizeMeters(el);
      loadSparks();
      return;
    }
    for (const k in vals) {
      const c = $("card-" + k);
      if (!c) continue;
      c.querySelector(".value").innerHTML = vals[k][0];
      c.querySelector(".sub").textContent = vals[k][1];
      const mb = c.querySelector(".meterbox");
      if (mb) mb.innerHTML = vals[k][2];
    }
    $("mounts-box").innerHTML = mountHTML;
    sizeMeters(el);
  }

  // Sums series point-wise over time (interfaces into one line).
  function sumSeries(series) {
    const acc = new Map();
    series.forEach((s) => s.points.forEach(([t, v]) => acc.set(t, (acc.get(t) || 0) + v)));
    return [...acc.entries()].sort((a, b) => a[0] - b[0]);
  }
  const sparkPlots = {};
  async function loadSparks() {
    if (!window.uPlot) return;
    const sys = systemProbe(state.status);
    for (const id in SPARKS) {
      const sp = SPARKS[id];
      const box = $("spark-" + id);
      if (!box) continue;
      try {
        const lines = [];
        for (const [name, labels] of sp.sels) {
          const b = await query([selector(name, labels, sys && sys.name)], { range: "1h", step: "15s", rate: sp.rate });
          const ss = b.series.filter((s) => !(sp.skip && sp.skip(s.labels)));
          lines.push(sp.sum ? sumSeries(ss) : ss.length ? ss[0].points : []);
        }
        drawSpark(id, box, lines);
      } catch (e) {
        box.textContent = "";
      }
    }
  }
  function drawSpark(id, box, lines) {
    const xs = [...new Set(lines.flatMap((l) => l.map((p) => p[0])))].sort((a, b) => a - b);
    const data = [xs.map((t) => t / 1000)].concat(lines.map((l) => {
      const m = new Map(l);
      return xs.map((t) => (m.has(t) ? m.get(t) : null));
    }));
    const opts = {
      width: Math.max(80, box.clientWidth), height: 38, pxAlign: false,
      cursor: { show: false }, legend: { show: false }, select: { show: false },
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.1 : 1] } },
      axes: [{ show: false }, { show: false }],
      series: [{}].concat(lines.map((_, i) => ({ stroke: PALETTE[i], width: 1.5, fill: i === 0 ? "rgba(47,111,222,.10)" : undefined, spanGaps: true }))),
    };
    if (sparkPlots[id]) sparkPlots[id].destroy();
    box.textContent = "";
    sparkPlots[id] = new uPlot(opts, data, box);
    const now = Date.now() / 1000;
    sparkPlots[id].setScale("x", { min: now - 3600, max: now }); // the last hour, however little has data

  }

  // ---- charts -------------------------------------------------------------
  const PRESETS = [
    { title: "CPU %", q: [{ name: "system.cpu.percent", label: (l) => (l.cpu ? "cpu" + l.cpu : "all") }], unit: "%" },
    { title: "Memory and swap %", q: [{ name: "system.memory.used_percent", label: () => "memory" }, { name: "system.swap.used_percent", label: () => "swap" }], unit: "%" },
    { title: "Network (per interface)", q: [{ name: "system.net.bytes_recv", rate: true, label: (l) => l.interface + " ↓", skip: notLoopback }, { name: "system.net.bytes_sent", rate: true, label: (l) => l.interface + " ↑", skip: notLoopback }], unit: "B/s" },
    { title: "Disk I/O (per device)", q: [{ name: "system.diskio.read_bytes", rate: true, label: (l) => l.device + " read" }, { name: "system.diskio.write_bytes", rate: true, label: (l) => l.device + " write" }], unit: "B/s" },
    { title: "Disk use % (per mount)", q: [{ name: "system.disk.used_percent", label: (l) => l.mount }], unit: "%" },
    { title: "Load", q: [{ name: "system.load.1", label: () => "1m" }, { name: "system.load.5", label: () => "5m" }, { name: "system.load.15", label: () => "15m" }], unit: "" },
  ];
  // valueFmt formats one value of a chart (the legend's, under the
  // cursor); the axes' tick labels come from ticks.js.
  function valueFmt(unit) {
    if (unit === "B/s") return (v) => fmtBytes(v, true);
    if (unit === "B") return (v) => fmtBytes(v);
    if (unit === "%") return (v) => fmtNum(v, v < 10 ? 1 : 0) + "%";
    return (v) => fmtNum(v);
  }
  function renderRanges() {
    $("ranges").innerHTML = RANGES.map((r) => '<button type="button" data-range="' + r + '" aria-pressed="' + (r === state.range) + '">' + r + "</button>").join("");
  }
  function chartDefs() {
    const sys = systemProbe(state.status);
    const probe = sys && sys.name;
    return PRESETS.map((p) => Object.assign({ probe }, p)).concat(state.custom.map((c, i) => ({
      title: c.sel + (c.rate ? " (rate)" : ""), custom: i, unit: c.rate ? "/s" : "",
      q: [{ raw: c.sel, rate: c.rate, label: (l, s) => (labelText(l) || s.name) + (s.probe ? " · " + s.probe : "") }],
    })));
  }
  async function renderCharts() {
    if (!window.uPlot) return;
    state.charts.forEach((c) => c.plot && c.plot.destroy());
    state.charts = [];
    const grid = $("chart-grid");
    grid.innerHTML = "";
    for (const def of chartDefs()) {
      const el = document.createElement("div");
      el.className = "panel chart";
      el.innerHTML = "<header><h3>" + esc(def.title) + '</h3><span class="muted small range-note"></span>' +
        (def.custom !== undefined ? '<button type="button" class="remove" data-remove="' + def.custom + '" title="remove this chart">✕</button>' : "") +
        '</header><div class="plot"></div>';
      grid.appendChild(el);
      const c = { def, el, plot: null };
      state.charts.push(c);
      loadChart(c);
    }
  }
  async function loadChart(c) {
    const box = c.el.querySelector(".plot");
    try {
      const lines = [];
      let step = 0;
      for (const q of c.def.q) {
        const b = await query([q.raw || selector(q.name, {}, c.def.probe)], { range: state.range, rate: q.rate });
        step = b.step_seconds;
        c.window = [new Date(b.from).getTime() / 1000, new Date(b.to).getTime() / 1000];
        b.series.filter((s) => !(q.skip && q.skip(s.labels))).forEach((s) => lines.push({ label: q.label(s.labels, s), points: s.points }));
      }
      c.note = "last " + state.range + " · step " + fmtDur(step);
      c.el.querySelector(".range-note").textContent = c.note;
      drawChart(c, box, lines);
    } catch (e) {
      box.innerHTML = '<div class="empty">' + esc(e.message) + "</div>";
    }
  }
  function drawChart(c, box, lines) {
    const pts = lines.reduce((a, l) => a + l.points.length, 0);
    box.innerHTML = "";
    box.dataset.points = String(pts);
    if (!pts) {
      box.innerHTML = '<div class="empty">No data in this range yet.</div>';
      return;
    }
    const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
    const data = [xs.map((t) => t / 1000)].concat(lines.map((l) => {
      const m = new Map(l.points);
      return xs.map((t) => (m.has(t) ? m.get(t) : null));
    }));
    const f = valueFmt(c.def.unit);
    const ticks = barbossaTicks.axis(c.def.unit);
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const axis = { stroke: dark ? "#8b95a5" : "#667085", grid: { stroke: dark ? "rgba(160,170,190,.12)" : "rgba(100,110,130,.15)", width: 1 }, ticks: { show: false } };
    const opts = {
      width: Math.max(200, box.clientWidth), height: 190,
      cursor: {
        drag: { x: true, y: false, setScale: true }, points: { size: 6 },
        // A double click goes back to the range asked for (uPlot's own
        // reset would fit the data, however little of the range it covers).
        bind: { dblclick: (u, targ, reset) => (e) => {
          if (e.button !== 0) return;
          reset(e);
          if (c.window) u.setScale("x", { min: c.window[0], max: c.window[1] });
        } },
      },
      scales: { x: { time: true } },
      axes: [axis, Object.assign({}, axis, { size: 64 }, ticks, {
        values: (u, splits, i, space, incr) => (c.yTicks = ticks.values(u, splits, i, space, incr)),
      })],
      hooks: { setScale: [(u, key) => { if (key === "x") noteZoom(c, u.scales.x); }] },
      series: [{}].concat(lines.map((l, i) => ({
        label: l.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
        value: (u, v) => (v == null ? "–" : f(v)),
      }))),
    };
    c.plot = new uPlot(opts, data, box);
    // The whole range asked for, however little of it has data yet.
    if (c.window) c.plot.setScale("x", { min: c.window[0], max: c.window[1] });
  }
  // zoomed: a drag has narrowed the chart's x range x (its scale) within
  // the range asked for.
  const zoomed = (c, x) => !!c.window && (x.min > c.window[0] + 1 || x.max < c.window[1] - 1);
  // noteZoom says so in the chart's header.
  function noteZoom(c, x) {
    c.el.querySelector(".range-note").textContent = zoomed(c, x)
      ? fmtTime(x.min * 1000) + " – " + fmtTime(x.max * 1000) + " · double-click to reset" : c.note || "";
  }
  // The charts (their uPlot instances, ranges and tick labels), for the
  // console and the browser test.
  window.barbossaCharts = () => state.charts;
  async function loadSeriesList() {
    const sel = $("series-pick");
    const all = [];
    let cursor = "";
    try {
      for (let page = 0; page < 10; page++) {
        const b = await api("/api/v1/series?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
        b.series.forEach((s) => all.push(s));
        if (b.series.some((s) => "probe" in s)) state.seriesProbe = true;
        cursor = b.next_cursor || "";
        if (!cursor) break;
      }
    } catch (e) {
      return;
    }
    sel.innerHTML = '<option value="">Add a chart of any series…</option>' + all.map((s) => {
      const v = selector(s.name, s.labels, s.probe);
      const l = labelText(s.labels);
      return '<option value="' + esc(v) + '">' + esc(s.name + (l ? " {" + l + "}" : "") + (s.probe ? " · " + s.probe : "")) + "</option>";
    }).join("");
  }

  // ---- probe panes ----------------------------------------------------------
  function matchGlob(pattern, name) {
    let re = "^";
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i];
      if (ch === "*") re += "[^/]*";
      else if (ch === "?") re += "[^/]";
      else if (ch === "[") {
        const j = pattern.indexOf("]", i + 1);
        if (j < 0) return false;
        re += "[" + pattern.slice(i + 1, j).replace(/^\^/, "^").replace(/\\/g, "\\\\") + "]";
        i = j;
      } else if (ch === "\\" && i + 1 < pattern.length) re += "\\" + pattern[++i];
      else re += ch.replace(/[.+^${}()|\]\\]/g, "\\$&");
    }
    try {
      return new RegExp(re + "$").test(name);
    } catch (e) {
      return false;
    }
  }
  function granted(kind, name) {
    const a = state.session.actions;
    if (!a || !a.enabled) return false;
    return (kind === "unit" ? a.units : a.containers).some((p) => matchGlob(p, name));
  }
  function actionButtons(kind, name, running) {
    if (!granted(kind, name)) return "";
    const b = (verb) => '<button type="button" class="sm' + (verb === "stop" ? " danger" : "") + '" data-act="' + verb + '" data-kind="' + kind +
      '" data-target="' + esc(name) + '">' + verb[0].toUpperCase() + verb.slice(1) + "</button>";
    return (running ? b("stop") : b("start")) + b("restart");
  }
  const healthRank = { crit: 0, warn: 1, unknown: 2, ok: 3 };
  const byHealth = (a, b) => (healthRank[a.health] ?? 2) - (healthRank[b.health] ?? 2) || String(a.name).localeCompare(String(b.name));
  function matches(e) {
    if (!state.filter) return true;
    const hay = (e.kind + " " + e.name + " " + e.id + " " + e.state + " " + e.health + " " + JSON.stringify(e.attrs || {})).toLowerCase();
    return state.filter.split(/\s+/).every((w) => hay.includes(w));
  }
  function table(head, rows, key, total) {
    if (!rows.length) return '<div class="none">' + (total ? "Nothing matches the filter." : "None.") + "</div>";
    const limit = state.showAll[key] ? rows.length : 60;
    const more = rows.length > limit ? '<div class="more"><button type="button" data-showall="' + esc(key) + '">Show all ' + rows.length + "</button></div>" : "";
    return '<div class="table-wrap"><table><thead><tr>' + head.map((h) => "<th" + (h[1] ? ' class="n"' : "") + ">" + esc(h[0]) + "</th>").join("") +
      "</tr></thead><tbody>" + rows.slice(0, limit).join("") + "</tbody></table></div>" + more;
  }
  const td = (v, cls) => "<td" + (cls ? ' class="' + cls + '"' : "") + ">" + v + "</td>";
  const KINDS = {
    unit: {
      title: "Units",
      head: [["Unit"], ["State"], ["Health"], ["Restarts", 1], ["Memory", 1], ["PID", 1], [""]],
      row: (e) => {
        const a = e.attrs || {};
        return "<tr>" + td(esc(e.name) + (a.description ? '<div class="sub">' + esc(a.description) + "</div>" : ""), "name") +
          td(badge(e.state, sevOf(e.state)) + (a.sub_state ? ' <span class="muted small">' + esc(a.sub_state) + (a.result && a.result !== "success" ? ", " + esc(a.result) : "") + "</span>" : "")) +
          td(badge(e.health)) + td(a.restarts ?? "–", "n") + td(a.memory_bytes != null ? fmtBytes(a.memory_bytes) : "–", "n") + td(a.main_pid || "–", "n") +
          td(actionButtons("unit", e.name, e.state === "active"), "acts") + "</tr>";
      },
    },
    container: {
      title: "Containers",
      head: [["Container"], ["State"], ["Health"], ["CPU", 1], ["Memory", 1], ["I/O", 1], [""]],
      row: (e, m) => {
        const a = e.attrs || {};
        const l = { container: e.name };
        const io = ["block_read_bytes_total", "block_write_bytes_total", "network_rx_bytes_total", "network_tx_bytes_total"].map((k) => m.get("docker.container." + k, l));
        const ioText = io.some((v) => v != null) ? "blk " + fmtBytes(io[0]) + " / " + fmtBytes(io[1]) + (io[2] != null ? '<div class="sub">net ↓' + fmtBytes(io[2]) + " ↑" + fmtBytes(io[3]) + "</div>" : "") : "–";
        return "<tr>" + td(esc(e.name) + '<div class="sub">' + esc(a.image || "") + (a.status ? " · " + esc(a.status) : "") + "</div>", "name") +
          td(badge(e.state, sevOf(e.state))) + td(badge(e.health) + (a.health ? ' <span class="muted small">' + esc(a.health) + "</span>" : "")) +
          td(a.cpu_percent != null ? fmtPct(a.cpu_percent) : "–", "n") +
          td(a.memory_bytes != null ? fmtBytes(a.memory_bytes) + (a.memory_limit_bytes ? '<div class="sub">of ' + fmtBytes(a.memory_limit_bytes) + "</div>" : "") : "–", "n") +
          td(ioText, "n") + td(actionButtons("container", e.name, e.state === "running" || e.state === "paused"), "acts") + "</tr>";
      },
    },
    session: {
      title: "tmux sessions",
      head: [["Session"], ["State"], ["Windows", 1], ["Panes", 1], ["Commands"], ["Activity"]],
      row: (e) => {
        const a = e.attrs || {};
        const panes = Array.isArray(a.panes) ? a.panes : [];
        const cmds = [...new Set(panes.map((p) => p.command).filter(Boolean))];
        return '<tr data-session="' + esc(e.name) + '">' + td(esc(e.name) + (a.path ? '<div class="sub">' + esc(a.path) + "</div>" : ""), "name") +
          td(badge(e.state, e.health === "ok" ? "ok" : e.health)) + td(a.windows ?? "–", "n") + td(panes.length || "–", "n") +
          td('<span class="cmds">' + esc(cmds.join(", ") || "–") + "</span>") + td(a.activity ? ago(a.activity) : "–") + "</tr>";
      },
    },
    listener: {
      title: "Listening ports",
      head: [["Port", 1], ["Proto"], ["Address"], ["Process"], ["PID", 1]],
      sort: (a, b) => ((a.attrs || {}).port || 0) - ((b.attrs || {}).port || 0),
      row: (e) => {
        const a = e.attrs || {};
        return "<tr>" + td(a.port ?? "–", "n") + td(esc(a.proto || "") + (a.family ? ' <span class="muted small">' + esc(a.family) + "</span>" : "")) +
          td('<span class="mono">' + esc(a.address || "") + "</span>") + td(esc(a.process || "–")) + td(a.pid || "–", "n") + "</tr>";
      },
    },
  };
  function genericRows(list) {
    return list.map((e) => {
      const attrs = Object.entries(e.attrs || {}).filter(([, v]) => v !== null && typeof v !== "object").slice(0, 8);
      return "<tr>" + td(esc(e.name || e.id), "name") + td(esc(e.kind)) + td(badge(e.state, sevOf(e.state))) + td(badge(e.health)) +
        td('<div class="kv">' + attrs.map(([k, v]) => esc(k) + " <b>" + esc(v) + "</b>").join("") + "</div>") + "</tr>";
    });
  }
  function metricsTable(report, open) {
    const ms = (report.metrics || []).filter((x) => !state.filter || (x.name + " " + labelText(x.labels)).toLowerCase().includes(state.filter));
    if (!ms.length) return "";
    const rows = ms.map((x) => "<tr>" + td('<span class="mono">' + esc(x.name) + "</span>") + td('<span class="muted small">' + esc(labelText(x.labels)) + "</span>") + td(fmtNum(x.value), "n") + "</tr>");
    return '<details class="metrics"' + (open ? " open" : "") + "><summary>" + ms.length + " metrics</summary>" +
      table([["Metric"], ["Labels"], ["Value", 1]], rows, "metrics", ms.length) + "</details>";
  }
  // A refused new version of a running drop-in, in its probe's pane.
  function dropInNote(d) {
    return '<div class="dropin-error" role="note">' + badge("new version refused", "warn") + ' <span class="muted small">the previous version runs on</span> ' +
      '<span class="mono small">' + esc(d.error) + "</span></div>";
  }
  // A refused drop-in that runs nothing: a pane of its own, first.
  function refusedPane(d) {
    const name = d.file.split("/").pop();
    return '<article class="panel pane refused" data-dropin="' + esc(d.file) + '"><header><h3>' + esc(name) + "</h3>" + badge("refused", "warn") +
      '<span class="meta">drop-in not loaded · ' + esc(fileLine(d)) + '</span><span class="msg mono">' + esc(d.error) + "</span></header></article>";
  }
  function renderPanes(st) {
    const probes = st.probes || [];
    $("probes-count").textContent = "(" + probes.length + ")";
    const ents = st.entities || [];
    const full = {};
    probes.forEach((p) => { full[p.name] = p; });
    const html = probes.slice().sort((a, b) => (a.source === "builtin:system" ? -1 : b.source === "builtin:system" ? 1 : a.name.localeCompare(b.name))).map((p) => {
      const r = p.report;
      const absent = r && r.not_present;
      let stateBadge = badge(p.state);
      let verdict = "";
      if (absent) verdict = badge("not present", "absent");
      else if (r) verdict = badge(r.status);
      else verdict = '<span class="muted small">no report (' + esc(p.report_state) + ")</span>";
      const meta = p.runtime + " · " + (p.last_run ? "ran " + ago(p.last_run) + " in " + fmtNum(p.duration_ms, 1) + " ms" : "not run yet") + " · every " + fmtDur(p.interval_ms / 1000);
      const msg = absent ? r.message.replace(/^not present: /, "") : (r && r.message) || p.last_error || "";
      let body = "";
      if (!absent && r) {
        const mine = ents.filter((e) => e.probe === p.name && e.kind !== "host");
        const kinds = [...new Set(mine.map((e) => e.kind))];
        const m = metricsOf(r);
        for (const k of kinds) {
          const all = mine.filter((e) => e.kind === k);
          const shown = all.filter(matches);
          const K = KINDS[k];
          if (K) {
            body += (kinds.length > 1 ? '<h4 class="muted small">' + esc(K.title) + "</h4>" : "") +
              table(K.head, shown.sort(K.sort || byHealth).map((e) => K.row(e, m)), p.name + "/" + k, all.length);
          } else {
            body += (kinds.length > 1 ? '<h4 class="muted small">' + esc(k) + "</h4>" : "") +
              table([["Name"], ["Kind"], ["State"], ["Health"], ["Details"]], genericRows(shown.sort(byHealth)), p.name + "/" + k, all.length);
          }
        }
        if (p.source !== "builtin:system") body += metricsTable(r, !kinds.length);
        if (!body) body = '<div class="none">The report has no entities or metrics.</div>';
      }
      return '<article class="panel pane' + (absent ? " absent" : "") + '" id="probe-' + esc(p.name) + '" data-probe="' + esc(p.name) + '"><header><h3>' + esc(p.name) + "</h3>" +
        stateBadge + verdict + '<span class="meta">' + esc(meta) + "</span>" + (msg ? '<span class="msg">' + esc(msg) + "</span>" : "") + "</header>" +
        (p.dropin_error ? dropInNote(p.dropin_error) : "") + (body ? '<div class="body">' + body + "</div>" : "") + "</article>";
    }).join("");
    const refused = (st.dropin_problems || []).filter((d) => !d.probe).map(refusedPane).join("");
    patch($("panes"), (refused + html) || '<div class="panel none">No probes are configured.</div>');
  }

  // ---- events -----------------------------------------------------------
  function renderEvents(st) {
    let list = st.events || [];
    if (state.events) {
      const seen = new Set(state.events.map((e) => e.time + e.probe + e.id + e.to));
      list = list.filter((e) => !seen.has(e.time + e.probe + e.id + e.to)).concat(state.events);
    }
    patch($("timeline"), list.length ? list.map((e) =>
      '<li><time datetime="' + esc(e.time) + '">' + esc(fmtTime(e.time)) + '</time><div class="ev">' + badge(e.health) + ' <span class="who">' + esc(e.probe + " · " + (e.name || e.id)) +
      '</span> <span class="muted">' + esc(e.kind) + (e.from || e.to ? ": " + esc(e.from || "–") + " → " + esc(e.to) : "") + "</span>" +
      (e.message ? '<div class="small muted">' + esc(e.message) + "</div>" : "") + "</div></li>").join("") : '<li class="muted">No events yet.</li>');
  }

  // ---- actions -----------------------------------------------------------
  function toast(text, bad) {
    const t = document.createElement("div");
    t.className = "toast" + (bad ? " crit" : "");
    t.setAttribute("role", bad ? "alert" : "status");
    t.textContent = text;
    $("toasts").appendChild(t);
    setTimeout(() => t.remove(), bad ? 12000 : 6000);
  }
  function confirmDialog(title, text) {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.returnValue = "";
      d.showModal();
    });
  }
  async function runAction(kind, target, verb) {
    const ok = await confirmDialog(verb[0].toUpperCase() + verb.slice(1) + " " + target + "?",
      "This asks " + (kind === "unit" ? "systemd" : "Docker") + " to " + verb + " the " + kind + " " + target + " now. It is recorded as an event.");
    if (!ok) return;
    toast(verb + " " + target + ": sent…");
    try {
      const b = await api("/api/v1/actions", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": state.session.csrf_token || "" },
        body: JSON.stringify({ kind, target, action: verb }),
      });
      toast(verb + " " + target + ": " + b.result + (b.message ? " (" + b.message + ")" : "") + " in " + fmtNum(b.duration_ms, 0) + " ms");
    } catch (e) {
      toast(verb + " " + target + " failed: " + e.message, true);
    }
  }

  // ---- live -------------------------------------------------------------
  function render() {
    const st = state.status;
    if (!st) return;
    renderHeader(st);
    renderAlerts(st);
    renderCards(st);
    renderPanes(st);
    renderEvents(st);
    document.body.dataset.version = String(st.version);
  }
  function onStatus(st) {
    const first = !state.status;
    state.status = st;
    state.lastUpdate = Date.now();
    updateRates(systemProbe(st));
    render();
    if (first) renderCharts();
    if (state.alertsURL) loadAlerts();
  }
  function connect() {
    const live = $("live");
    const es = new EventSource("/api/v1/stream");
    es.addEventListener("status", (ev) => {
      live.className = "live on";
      live.textContent = "live";
      onStatus(JSON.parse(ev.data));
    });
    es.onopen = () => { live.className = "live on"; live.textContent = "live"; };
    es.onerror = () => {
      live.className = "live off";
      live.textContent = "reconnecting";
      api("/api/v1/session").catch(() => {}); // a 401 sends the browser to the login form
    };
  }

  // ---- wiring -----------------------------------------------------------
  document.addEventListener("click", (ev) => {
    const t = ev.target.closest("button");
    if (!t) return;
    if (t.dataset.range) {
      state.range = t.dataset.range;
      localStorage.setItem("barbossa.range", state.range);
      renderRanges();
      renderCharts();
    } else if (t.dataset.act) {
      runAction(t.dataset.kind, t.dataset.target, t.dataset.act);
    } else if (t.dataset.remove !== undefined) {
      state.custom.splice(Number(t.dataset.remove), 1);
      localStorage.setItem("barbossa.charts", JSON.stringify(state.custom));
      renderCharts();
    } else if (t.dataset.showall) {
      state.showAll[t.dataset.showall] = true;
      render();
    } else if (t.id === "series-add") {
      const v = $("series-pick").value;
      if (!v) return;
      state.custom.push({ sel: v, rate: $("series-rate").checked });
      localStorage.setItem("barbossa.charts", JSON.stringify(state.custom));
      renderCharts();
    } else if (t.id === "events-more") {
      api("/api/v1/events?limit=500").then((b) => {
        state.events = b.events;
        t.hidden = true;
        render();
      }).catch((e) => toast("events: " + e.message, true));
    }
  });
  $("filter").addEventListener("input", (ev) => {
    state.filter = ev.target.value.trim().toLowerCase();
    if (state.status) renderPanes(state.status);
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      state.charts.forEach((c) => c.plot && c.plot.setSize({ width: Math.max(200, c.el.querySelector(".plot").clientWidth), height: 190 }));
      loadSparks();
    }, 200);
  });
  setInterval(() => { if (state.status) renderHeader(state.status); }, 1000);
  setInterval(loadSparks, 60000);
  setInterval(() => state.charts.forEach((c) => {
    if (!c.plot || !zoomed(c, c.plot.scales.x)) loadChart(c); // keep a zoomed chart as it is
  }), 60000);

  async function start() {
    renderRanges();
    try {
      state.session = await api("/api/v1/session");
    } catch (e) {
      // The session endpoint answers whoever may see the page.
    }
    if (state.session.auth === "session") {
      $("logout").hidden = false;
      $("logout-csrf").value = state.session.csrf_token || "";
    }
    // The alerts API, where this agent has it (its OpenAPI document lists
    // it), fills the alerts panel; the status' alerts do otherwise.
    api("/api/v1/openapi.json")
      .then((doc) => { if (doc.paths && doc.paths["/api/v1/alerts"]) { state.alertsURL = "/api/v1/alerts"; loadAlerts(); } })
      .catch(() => {});
    loadSeriesList();
    connect();
  }
  start();
})();
