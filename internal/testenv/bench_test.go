//go:build linux

package testenv

import (
	"testing"
	"time"
)

// BenchmarkSystemdBoot measures one boot of the cached rootfs until
// SystemState is running/degraded (start-ms/op) and its halt and reaping
// (stop-ms/op).
func BenchmarkSystemdBoot(b *testing.B) {
	lower := Rootfs(b)
	units := append([]Unit(nil), defaultUnits...)
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := startSystemd(lower, units)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := s.stop(); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	reportStartStop(b, start, stop)
}

// BenchmarkDockerStart measures dockerd's start until /_ping answers
// (start-ms/op) and its stop and reaping (stop-ms/op).
func BenchmarkDockerStart(b *testing.B) {
	requireRoot(b)
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		d, err := startDocker(dockerStorageDrivers[0])
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := d.stop(); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	reportStartStop(b, start, stop)
}

func reportStartStop(b *testing.B, start, stop time.Duration) {
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "stop-ms/op")
}
