//go:build !unix

package sdktest

import "time"

// CPUTime is unknown here: SideBySide reports CPU ratios of 0/0.
func CPUTime() time.Duration { return 0 }
