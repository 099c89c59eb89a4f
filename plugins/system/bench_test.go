package system

import (
	"context"
	"net"
	"testing"

	"github.com/barbossa-agent/barbossa/sdk"
	psnet "github.com/shirou/gopsutil/v3/net"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./plugins/system/
//
// Collect benchmarks read the live machine; the first run's CPU baseline
// (a 200 ms sleep) happens before the timer starts.

func benchCollect(b *testing.B, config map[string]any) {
	p := New()
	ctx := context.Background()
	req := sdk.Request{Probe: "system", Config: config}
	if _, err := p.Collect(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Collect(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCollect(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchCollect(b, nil) })
	b.Run("connections=false", func(b *testing.B) { benchCollect(b, map[string]any{"connections": false}) })
}

// BenchmarkCollectManyConnections shows what connection counting costs on
// a busy host: it holds n established loopback connections open (2n
// sockets, all owned by this process) during the run.
func BenchmarkCollectManyConnections(b *testing.B) {
	const n = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, <-accepted)
	}
	benchCollect(b, nil)
}

// BenchmarkBuild is the pure half alone: a stored snapshot to a report.
func BenchmarkBuild(b *testing.B) {
	f := loadFixture(b)
	cfg := defaultConfig(b)
	pct := computeCPU(f.PrevCPU, f.Snapshot.CPU, cpuPercents{})
	b.ReportAllocs()
	for b.Loop() {
		build(cfg, &f.Snapshot, pct)
	}
}

// BenchmarkParseConfig is the per-run cost of decoding [probe.config].
func BenchmarkParseConfig(b *testing.B) {
	req := sdk.Request{Probe: "system", Config: map[string]any{"per_cpu": false, "interface_exclude": []any{"lo", "veth*"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseConfig(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnections compares the two ways of reading the socket table
// with the owners of listening sockets, side by side: gopsutil reading every
// process's fds every run (what the probe did before), and the probe's own
// reader, which scans only for listeners it has not seen.
func BenchmarkConnections(b *testing.B) {
	ctx := context.Background()
	b.Run("gopsutil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := psnet.ConnectionsMaxWithoutUidsWithContext(ctx, "inet", 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kept-owners", func(b *testing.B) {
		p := New()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.connections(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(p.owners.scans)/float64(b.N), "scans/op")
	})
}
