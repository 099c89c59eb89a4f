//go:build !unix

package sdktest

import "time"

// cpuTime is unknown here: SideBySide reports CPU ratios of 0/0.
func cpuTime() time.Duration { return 0 }
