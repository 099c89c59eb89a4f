//go:build !linux

package agent

import "io/fs"

// inode is 0 where the platform gives none; size and mtime still apply.
func inode(fs.FileInfo) uint64 { return 0 }
