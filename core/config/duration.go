package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Duration is sdk.Duration, the one duration of the project (Go syntax
// plus d and w), which probes' configs and the API's parameters read too.
// It lives in sdk because a probe imports nothing else of the agent.
type Duration = sdk.Duration

// Size is a byte count written as an integer or a string with a unit
// ("64MiB", "512KiB", "1GB").
type Size int64

// UnmarshalTOML accepts both integers and strings.
func (s *Size) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("size must not be negative")
		}
		*s = Size(x)
		return nil
	case string:
		n, err := ParseSize(x)
		if err != nil {
			return err
		}
		*s = Size(n)
		return nil
	}
	return fmt.Errorf("size must be an integer (bytes) or a string like \"64MiB\", not %T", v)
}

// ParseSize reads "64MiB", "10MB", "4096".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"B", 1},
	}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q: use bytes or a unit such as KiB, MiB, GiB", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return n * mult, nil
}
