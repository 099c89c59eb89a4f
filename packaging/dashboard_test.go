package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/testenv"
)

// dashboard is the part of Grafana's dashboard model (schemaVersion 39,
// Grafana 10.4 to 11) that the checks below read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Time          struct{ From, To string }
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	GridPos    struct{ H, W, X, Y int }
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	FieldConfig *struct {
		Defaults  map[string]any `json:"defaults"`
		Overrides []any          `json:"overrides"`
	} `json:"fieldConfig"`
}

// The panel types of Grafana's core that schemaVersion 39 knows.
var panelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true, "gauge": true, "bargauge": true, "state-timeline": true, "text": true}

func readDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	return d, b
}

// TestDashboard checks the dashboard against the model of the schema
// version it names: the keys Grafana 10.4 needs, panels on its 24-column
// grid without overlaps, unique ids and refIds, every query on the
// datasource variable, every variable defined, and every PromQL
// expression accepted by Prometheus' own parser (promtool).
func TestDashboard(t *testing.T) {
	d, raw := readDashboard(t)
	if d.SchemaVersion != 39 || d.UID == "" || len(d.UID) > 40 || d.Title == "" || d.Time.From == "" {
		t.Errorf("header: schemaVersion %d, uid %q, title %q, time %+v", d.SchemaVersion, d.UID, d.Title, d.Time)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one Prometheus")
	}
	for _, m := range regexp.MustCompile(`\$\{?([a-zA-Z_]+)`).FindAllStringSubmatch(string(raw), -1) {
		if !vars[m[1]] && !strings.HasPrefix(m[1], "__") && m[1] != "labels" && m[1] != "value" {
			t.Errorf("$%s is used but not defined", m[1])
		}
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID <= 0 {
			t.Errorf("panel %q: id %d is not unique and positive", p.Title, p.ID)
		}
		ids[p.ID] = true
		if !panelTypes[p.Type] || p.Title == "" {
			t.Errorf("panel %d: type %q, title %q", p.ID, p.Type, p.Title)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" || p.FieldConfig == nil {
			t.Errorf("panel %q: datasource %+v, fieldConfig %v", p.Title, p.Datasource, p.FieldConfig != nil)
		}
		refs := map[string]bool{}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] || strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q: target %+v", p.Title, q)
			}
			refs[q.RefID] = true
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, _ := q["query"].(string); strings.HasPrefix(s, "label_values(") {
				// label_values(METRIC{...}, label) is Grafana's: its selector is PromQL.
				sel := strings.TrimSuffix(strings.TrimPrefix(s, "label_values("), ")")
				sel = sel[:strings.LastIndexByte(sel, ',')]
				exprs = append(exprs, sel)
			}
		}
	}
	checkPromQL(t, exprs)
}

// checkPromQL has promtool parse each expression, as recording rules, with
// the dashboard's variables replaced by what Grafana would put there.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	promtool := testenv.Program(t, "promtool", "prometheus")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	vars := strings.NewReplacer("$job", "barbossa", "$instance", ".+")
	for i, e := range exprs {
		q, _ := json.Marshal(vars.Replace(e))
		fmt.Fprintf(&rules, "      - record: dashboard:expr%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	os.WriteFile(file, []byte(rules.String()), 0o644)
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// TestAlertRules: Prometheus' own checker accepts the alerting rules.
func TestAlertRules(t *testing.T) {
	promtool := testenv.Program(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", "alerts.yml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
}

// metricRef finds the metric names a query names: those of the agent's
// families and probes, and Prometheus' own up.
var metricRef = regexp.MustCompile(`\b(?:up|(?:barbossa|system|docker|process|go)_[a-z0-9_]+)\b`)

// namedMetrics lists the metrics the dashboard and the alert rules name.
func namedMetrics(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range []string{"grafana-dashboard.json", "alerts.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricRef.FindAllString(string(b), -1) {
			seen[m] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// checkExported fails for every metric the dashboard or the alerts name
// that a real agent's /metrics (text exposition) does not export.
func checkExported(t *testing.T, exposition string) {
	t.Helper()
	exported := map[string]bool{"up": true} // Prometheus' own, per target
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = true
		}
	}
	named := namedMetrics(t)
	if len(named) < 15 {
		t.Errorf("only %d metrics named: %v", len(named), named)
	}
	for _, m := range named {
		if !exported[m] {
			t.Errorf("the dashboard or the alerts name %s, which the agent does not export", m)
		}
	}
}
