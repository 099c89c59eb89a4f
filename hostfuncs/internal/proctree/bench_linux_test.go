package proctree

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkRun is the cost of one contained run of /bin/true in each mode,
// beside os/exec alone (no containment: what leaves the process group
// survives).
//
//	go test ./hostfuncs/internal/proctree -run '^$' -bench Run -count 5
func BenchmarkRun(b *testing.B) {
	b.Run("os-exec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	modes := map[string]*Runner{"subreaper": NewSubreaper()}
	if r, err := NewCgroup(); err == nil {
		modes["cgroup"] = r
	}
	for _, name := range []string{"cgroup", "subreaper"} {
		r, ok := modes[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if res, err := r.Run(context.Background(), exec.Command("/bin/true")); err != nil || res.ExitCode != 0 {
					b.Fatal(res, err)
				}
			}
		})
	}
}
