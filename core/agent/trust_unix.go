//go:build unix

package agent

import (
	"io/fs"
	"os"
	"syscall"
)

// owner is the uid owning a file.
func owner(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// openNoFollow opens a file for reading, refusing a symlink (it may have
// been swapped in since it was looked at) and never blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
