package system

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/barbossa-agent/barbossa/sdk/sdktest"
)

// readings is everything the readers read of one report.
type readings struct {
	Host        Host
	HostFound   bool
	Interfaces  []Interface
	Connections Connections
	Listeners   []Listener
}

func readAll(r sdk.Report) readings {
	h, ok := ReadHost(r)
	return readings{Host: h, HostFound: ok, Interfaces: ReadInterfaces(r), Connections: ReadConnections(r), Listeners: ReadListeners(r)}
}

// TestReadersGolden builds the stored snapshot's report and reads it back
// with the readers the agent and the portal call: renaming a metric, a
// label, an entity kind or an attribute on one side only changes what is
// read, and this golden file (testdata/readers.golden.json; -update after
// an intended change) says so, not the portal's network view.
func TestReadersGolden(t *testing.T) {
	f := loadFixture(t)
	rep := build(defaultConfig(t), &f.Snapshot, computeCPU(f.PrevCPU, f.Snapshot.CPU, cpuPercents{}))
	got := readAll(rep)

	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	sdktest.Golden(t, filepath.Join("testdata", "readers.golden.json"), append(b, '\n'), *update)

	// Facts of the fixture, independently of the golden file: every
	// counter of every interface kept, every state, every listener.
	if !got.HostFound || got.Host.Hostname == "" || got.Host.CPUs != 4 || got.Host.BootTime.IsZero() {
		t.Errorf("host = %+v (found %v)", got.Host, got.HostFound)
	}
	if len(got.Interfaces) == 0 {
		t.Fatal("no interfaces read")
	}
	for _, ifc := range got.Interfaces {
		if ifc.BytesSent == 0 || ifc.BytesRecv == 0 || ifc.PacketsSent == 0 || ifc.PacketsRecv == 0 {
			t.Errorf("interface %s lost a counter: %+v", ifc.Name, ifc)
		}
	}
	if len(got.Connections.ByState) != len(tcpStates) || got.Connections.TCP == 0 || got.Connections.Listeners == 0 {
		t.Errorf("connections = %+v", got.Connections)
	}
	if len(got.Listeners) != got.Connections.Listeners || got.Listeners[0].Port == 0 || got.Listeners[0].Proto == "" {
		t.Errorf("listeners = %+v, counted %d", got.Listeners, got.Connections.Listeners)
	}

	// A report read back from the store or sent by a WASM probe has JSON
	// values in its attrs (float64, RFC 3339 strings): read alike.
	j, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.Report
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if again := readAll(back); !reflect.DeepEqual(again, got) {
		t.Errorf("read through JSON:\n%+v\nwant\n%+v", again, got)
	}
}

// A report is what a probe says: a hostile or broken one gives zeros, never
// a panic or a wrapped-around number.
func TestReadersHostileAttrs(t *testing.T) {
	r := sdk.Report{Entities: []sdk.Entity{
		{Kind: kindHost, Name: "h", Attrs: map[string]any{"cpus": math.NaN(), "uptime": -5.0, "os": 7, "boot_time": "yesterday"}},
		{Kind: kindListener, Attrs: map[string]any{"port": 1e300, "pid": "12", "proto": []any{"tcp"}}},
		{Kind: kindListener},
	}}
	got := readAll(r)
	if got.Host != (Host{Hostname: "h"}) || !got.HostFound {
		t.Errorf("host = %+v", got.Host)
	}
	if len(got.Listeners) != 2 || got.Listeners[0] != (Listener{}) || got.Listeners[1] != (Listener{}) {
		t.Errorf("listeners = %+v", got.Listeners)
	}
	if c := ReadConnections(sdk.Report{}); c.TCP != 0 || c.ByState == nil || len(ReadInterfaces(sdk.Report{})) != 0 {
		t.Errorf("empty report: %+v", c)
	}
}
