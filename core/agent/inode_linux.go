package agent

import (
	"io/fs"
	"syscall"
)

// inode tells a file replaced by rename from one rewritten in place.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
