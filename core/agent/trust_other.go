//go:build !unix

package agent

import (
	"io/fs"
	"os"
)

// owner is unknown where the platform has no uids; modes still apply.
func owner(fs.FileInfo) (uint32, bool) { return 0, false }

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }
