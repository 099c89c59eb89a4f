// Tick labels for the dashboard's chart axes: uPlot's axis `values` (and,
// for bytes, `incrs`). The decimals and the unit come from the tick
// increment, not from each value on its own, so neighbouring labels always
// differ ("45.10%, 45.15%", never "45%, 45%"). Pure, with no DOM: app.js
// uses it, portal/ticks_test.go checks it in Chromium against uPlot's own
// splits.
"use strict";
var barbossaTicks = (function () {
  const BYTES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const SI = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""]];

  // Increments for byte axes: uPlot's steps (1, 2, 2.5, 5, 10, ... 500)
  // of a binary unit, so that ticks fall on round KiB, MiB, ...; below a
  // byte (slow rates), decimal fractions.
  const STEPS = [1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500];
  const byteIncrs = [];
  for (let e = -6; e < 0; e++) for (const m of [1, 2, 2.5, 5]) byteIncrs.push(+(m + "e" + e));
  for (let k = 0; k < BYTES.length; k++) for (const m of STEPS) byteIncrs.push(m * 1024 ** k);

  // decimals is the fewest that show every multiple of step exactly (0.25:
  // 2) or, for a step no decimal fraction shows exactly, enough to tell
  // neighbours step apart.
  function decimals(step) {
    if (!(step > 0) || !isFinite(step)) return 0;
    const apart = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
    for (let d = 0; d <= Math.min(apart + 3, 20); d++) {
      const x = step * 10 ** d;
      if (Math.round(x) >= 1 && Math.abs(x - Math.round(x)) < 1e-6 * x) return d;
    }
    return Math.min(apart, 20);
  }

  // fixed formats v / scale with d decimals; a value within half a step of
  // zero is 0 (splits carry float noise: -1e-17 would read "-0.00").
  function fixed(v, scale, d, step) {
    return (Math.abs(v) < step / 2 ? 0 : v / scale).toFixed(d);
  }

  // labels are the tick labels of an axis in unit ("%", "B", "B/s", or
  // anything else for plain numbers) at splits, incr apart.
  function labels(unit, splits, incr) {
    const step = incr > 0 ? incr : 1;
    if (unit === "B" || unit === "B/s") {
      // One binary unit for the whole axis, the increment's own.
      let k = 0;
      while (k < BYTES.length - 1 && step >= 1024 ** (k + 1)) k++;
      const scale = 1024 ** k, d = decimals(step / scale);
      const suffix = " " + BYTES[k] + (unit === "B/s" ? "/s" : "");
      return splits.map((v) => fixed(v, scale, d, step) + suffix);
    }
    if (unit === "%") {
      const d = decimals(step);
      return splits.map((v) => fixed(v, 1, d, step) + "%");
    }
    // Plain numbers: k, M or G from the largest tick, unless that would
    // take more than two decimals to tell the ticks apart.
    const top = Math.max(...splits.map(Math.abs));
    let i = SI.findIndex(([s]) => top >= (s === 1e3 ? 1e4 : s));
    if (i < 0) i = SI.length - 1;
    while (i < SI.length - 1 && decimals(step / SI[i][0]) > 2) i++;
    const [scale, suffix] = SI[i];
    const d = decimals(step / scale);
    return splits.map((v) => fixed(v, scale, d, step) + suffix);
  }

  // axis is what a uPlot y axis in unit takes from here.
  function axis(unit) {
    const a = { values: (u, splits, axisIdx, space, incr) => labels(unit, splits, incr) };
    if (unit === "B" || unit === "B/s") a.incrs = byteIncrs;
    return a;
  }

  return { labels, axis, decimals };
})();
