package sdk_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// uptime is a whole probe: its main package is this file plus
//
//	func init() { sdk.Register(uptime{}) }
//	func main() { sdk.Serve() }
//
// built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o uptime.wasm .
//
// and run with the grant read = ["/proc/uptime"].
type uptime struct{}

func (uptime) Info() sdk.Info {
	return sdk.Info{Name: "uptime", Version: "1.0.0", Description: "seconds since boot"}
}

func (uptime) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	var cfg struct {
		WarnBelow float64 `json:"warn_below"` // [probe.config] warn_below = 600
	}
	if err := req.Decode(&cfg); err != nil {
		return sdk.Report{}, err
	}
	b, err := sdk.ReadFile(ctx, "/proc/uptime", 64)
	if err != nil {
		return sdk.Report{}, err // the probe could not run
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return sdk.Report{}, fmt.Errorf("/proc/uptime is empty")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return sdk.Report{}, fmt.Errorf("/proc/uptime: %w", err)
	}
	r := sdk.Report{Status: sdk.StatusOK}
	r.Gauge("uptime.seconds", secs, nil)
	if secs < cfg.WarnBelow {
		r.Worst(sdk.StatusWarn) // a recent reboot is a status, not an error
		r.Message = "rebooted recently"
		sdk.Log(sdk.LevelWarn, "recent reboot", "uptime_seconds", secs)
	}
	return r, nil
}

func Example() {
	sdk.Register(uptime{})
	sdk.Serve() // a no-op in a WASM build; serves a native plugin otherwise
}
