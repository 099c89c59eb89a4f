//go:build !linux

package store

import (
	"errors"
	"math"
	"os"
)

// freeSpace is not measured outside Linux: the store never stops writing
// for lack of space there.
func freeSpace(string) (uint64, error) { return math.MaxUint64, nil }

// allocate is Linux's fallocate; elsewhere the store holds no reserve.
func allocate(*os.File, int64) error { return errors.ErrUnsupported }
