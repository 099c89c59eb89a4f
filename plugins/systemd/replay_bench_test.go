package systemd

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// BenchmarkReplay is the probe's own work, natively, on the recorded run:
// decoding replies and building the report, without D-Bus or WASM.
//
//	go test ./plugins/systemd -run '^$' -bench Replay -benchmem
func BenchmarkReplay(b *testing.B) {
	replay, err := sdktest.LoadReplay("testdata/replay.json")
	if err != nil {
		b.Fatal(err)
	}
	defer sdk.SetTransport(sdk.SetTransport(replay))
	for _, d := range []string{"active", "none"} {
		b.Run(d, func(b *testing.B) {
			for b.Loop() {
				r, err := New().Collect(context.Background(), sdk.Request{Probe: "systemd", Config: map[string]any{"bus": testBus, "details": d}})
				if err != nil {
					b.Fatal(err)
				}
				json.Marshal(r)
			}
		})
	}
}
