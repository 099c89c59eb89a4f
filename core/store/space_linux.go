package store

import (
	"os"
	"syscall"
)

// freeSpace is the space on dir's filesystem that an unprivileged write may
// still take (statfs f_bavail): the conservative figure, since the blocks
// reserved for root are not counted on.
func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// allocate gives f size bytes of real blocks (fallocate), not a sparse
// hole, so that the space is taken now and is there to give back later.
func allocate(f *os.File, size int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}
