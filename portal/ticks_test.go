package portal

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// TestTickLabelsInChromium runs the dashboard's tick labelling
// (web/static/ticks.js) in Chromium: exact labels for known splits, then
// real uPlot charts over narrow and wide ranges in every unit, whose
// neighbouring labels must differ and read back as their ticks.
func TestTickLabelsInChromium(t *testing.T) {
	browser := testenv.StartChromium(t, 800, 600)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	for _, f := range []string{"web/static/vendor/uplot/uPlot.iife.min.js", "web/static/ticks.js"} {
		src, err := web.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](string(src)+"\n;undefined")); err != nil {
			t.Fatalf("loading %s: %v", f, err)
		}
	}

	for _, c := range []struct {
		unit   string
		splits []float64
		incr   float64
		want   string
	}{
		{"%", []float64{20, 20.2, 20.4}, 0.2, "20.0% 20.2% 20.4%"}, // issue #11: "20%, 20%"
		{"%", []float64{45.1, 45.15, 45.2}, 0.05, "45.10% 45.15% 45.20%"},
		{"%", []float64{20, 20.25, 20.5}, 0.25, "20.00% 20.25% 20.50%"},
		{"%", []float64{0, 20, 40}, 20, "0% 20% 40%"},
		{"%", []float64{-1e-17, 0.05}, 0.05, "0.00% 0.05%"},
		{"B/s", []float64{0, 1 << 20, 2 << 20}, 1 << 20, "0 MiB/s 1 MiB/s 2 MiB/s"},
		{"B/s", []float64{0, 0.5, 1}, 0.5, "0.0 B/s 0.5 B/s 1.0 B/s"},
		{"B", []float64{1536, 2048, 2560}, 512, "1536 B 2048 B 2560 B"},
		{"B", []float64{5 << 30, 10 << 30}, 5 << 30, "5 GiB 10 GiB"},
		{"", []float64{0, 0.5, 1, 1.5}, 0.5, "0.0 0.5 1.0 1.5"},
		{"", []float64{10000, 10020, 10040}, 20, "10.00k 10.02k 10.04k"},
		{"", []float64{10000, 10000.01}, 0.01, "10000.00 10000.01"},
		{"", []float64{2e6, 2.5e6, 3e6}, 5e5, "2.0M 2.5M 3.0M"},
		{"/s", []float64{3e9, 4e9}, 1e9, "3G 4G"},
	} {
		args, _ := json.Marshal([]any{c.unit, c.splits, c.incr})
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("barbossaTicks.labels(..."+string(args)+")"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("labels(%q, %v, %g) = %q, want %q", c.unit, c.splits, c.incr, got, c.want)
		}
	}

	// Real uPlot y axes, from its own splits and increments, 190 px high
	// as on the page.
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const scaleOf = (label) => {
			const m = /^(-?[\d.]+)\s?(KiB|MiB|GiB|TiB|PiB|B|k|M|G)?/.exec(label);
			const mult = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, PiB: 1024 ** 5, k: 1e3, M: 1e6, G: 1e9 };
			return m ? Number(m[1]) * (mult[m[2]] || 1) : NaN;
		};
		const bad = [];
		let charts = 0;
		for (const unit of ["%", "", "B/s", "B"]) {
			for (const base of [0, 0.3, 20, 45.3, 99.9, 1234, 12345.6, 3.2e6, 7.7e9]) {
				for (let e = -4; e <= 4; e++) {
					const lo = base, hi = base + 10 ** e;
					const ax = barbossaTicks.axis(unit);
					let got = null;
					const box = document.createElement("div");
					document.body.appendChild(box);
					const u = new uPlot({
						width: 400, height: 190, legend: { show: false },
						scales: { x: { time: false }, y: { range: [lo, hi] } },
						axes: [{}, Object.assign({}, ax, { size: 64, values: (u, splits, i, space, incr) => {
							got = { splits, incr, labels: ax.values(u, splits, i, space, incr) };
							return got.labels;
						} })],
						series: [{}, {}],
					}, [[0, 1], [lo, hi]], box);
					await new Promise((r) => setTimeout(r, 0));
					u.destroy();
					box.remove();
					charts++;
					const what = unit + " [" + lo + ", " + hi + "]";
					if (!got || got.labels.length < 2) { bad.push(what + ": " + JSON.stringify(got && got.labels) + ": fewer than two ticks"); continue; }
					got.labels.forEach((l, i) => {
						if (i > 0 && l === got.labels[i - 1]) bad.push(what + ": " + JSON.stringify(got.labels) + ": " + l + " twice");
						const v = scaleOf(l), s = got.splits[i];
						if (!(Math.abs(v - s) <= got.incr / 2 + 1e-9 * Math.abs(s))) bad.push(what + ": " + l + " is not the tick at " + s);
					});
				}
			}
		}
		if (charts !== 324) bad.push(charts + " charts drawn");
		return bad;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%d bad axes, such as:\n%s", len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
}
