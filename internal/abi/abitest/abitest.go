// Package abitest holds the hostile collect answers that every runtime's
// tests send through a real probe (a WASM guest, a native plugin), so both
// runtimes are held to the same refusals with the same errors.
package abitest

import (
	"fmt"
	"strings"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// BadReport is a collect answer every runtime must refuse; Want is in the
// error, which matches abi.ErrInvalidReport.
type BadReport struct {
	Name   string
	Report string
	Want   string
}

// Nested returns a report whose one entity has an attribute nested depth
// arrays deep.
func Nested(depth int) string {
	return `{"status":"ok","entities":[{"kind":"k","id":"i","attrs":{"a":` +
		strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}]}`
}

// BadReports are the answers refused alike by every runtime.
var BadReports = []BadReport{
	{"misspelt key", `{"status":"ok","metrcs":[{"name":"x.y","value":1}]}`, `invalid report: json: unknown field "metrcs"`},
	{"misspelt nested key", `{"metrics":[{"name":"x.y","valu":1}]}`, `invalid report: json: unknown field "valu"`},
	{"trailing data", `{"status":"ok"} {"status":"crit"}`, "invalid report: data after the JSON value"},
	{"nested 9000 levels", Nested(9000), fmt.Sprintf("invalid report: nested deeper than %d levels", abi.MaxDepth)},
	{"error beside a report", `{"error":"x","status":"ok"}`, `invalid report: json: unknown field "status"`},
	{"empty error", `{"error":""}`, "invalid report: an empty error"},
	{"bad status", `{"status":"fine"}`, `invalid report: status "fine" is not one of ok, warn, crit, unknown`},
	{"not JSON", `this is not a report`, "invalid report: invalid character 'h' in literal true"},
	{"an array", `[{"status":"ok"}]`, "invalid report: json: cannot unmarshal array"},
}

// GoodReport is accepted by every runtime: the control that shows a
// refusal comes from the report, not from how it was sent. Its attrs are
// nested abi.MaxDepth levels, the most allowed.
var GoodReport = Nested(abi.MaxDepth - 4)
