package system

import (
	"sort"
	"strconv"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// finding is a value that crossed a threshold.
type finding struct {
	What  string // "memory used", "disk / used", "load1 per cpu"
	Value float64
	Unit  string // "%" or ""
	Level sdk.Status
	Limit float64 // the threshold that was crossed
}

func (f finding) String() string {
	return f.What + " " + formatFloat(f.Value, 1) + f.Unit + " >= " + string(f.Level) + " " + formatFloat(f.Limit, -1) + f.Unit
}

// level rates v against its thresholds. A threshold of 0 is off.
func level(v, warn, crit float64) sdk.Status {
	switch {
	case crit > 0 && v >= crit:
		return sdk.StatusCrit
	case warn > 0 && v >= warn:
		return sdk.StatusWarn
	}
	return sdk.StatusOK
}

// appendFinding adds a finding when v crosses warn or crit.
func appendFinding(fs []finding, what string, v, warn, crit float64, unit string) []finding {
	lv := level(v, warn, crit)
	if lv == sdk.StatusOK {
		return fs
	}
	limit := warn
	if lv == sdk.StatusCrit {
		limit = crit
	}
	return append(fs, finding{What: what, Value: v, Unit: unit, Level: lv, Limit: limit})
}

// verdict is the run's status and message: the worst finding, or unknown
// when part of the system could not be read. The message names everything
// that crossed a threshold, worst first, then what could not be read; it is
// empty when all is well.
func verdict(fs []finding, errs []sectionError) (sdk.Status, string) {
	status := sdk.StatusOK
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Level.Rank() > fs[j].Level.Rank() })
	parts := make([]string, 0, len(fs)+len(errs))
	for _, f := range fs {
		if f.Level.Rank() > status.Rank() {
			status = f.Level
		}
		parts = append(parts, f.String())
	}
	for _, e := range errs {
		if sdk.StatusUnknown.Rank() > status.Rank() {
			status = sdk.StatusUnknown
		}
		parts = append(parts, "cannot read "+e.Section+": "+e.Err)
	}
	return status, strings.Join(parts, "; ")
}

// formatFloat prints v with prec decimals, or as short as possible when
// prec is -1 (thresholds are written by people: 90, 2.5).
func formatFloat(v float64, prec int) string {
	return strconv.FormatFloat(v, 'f', prec, 64)
}
