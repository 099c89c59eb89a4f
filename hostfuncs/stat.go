package hostfuncs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// statFunc is the host function "stat" (docs/ABI.md): a file's metadata
// under the same read grant as read_file, JSON in and out:
//
//	request  {"path": "/var/spool/out/a.dat"}
//	response {"name": "a.dat", "type": "file", "size": 1048576, "mode": 420, "mtime_ns": 1733...}
//	       | {"error": "denied: stat of \"/etc/shadow\" is not granted to probe \"x\""}
//
// The path is checked and opened as read_file's is (openGranted), but
// with O_PATH: a FIFO, a device or a file the agent may not read is
// looked at, never opened for reading. Symlinks are resolved, so type is
// never symlink; mode is the permission bits with setuid, setgid and
// sticky (0o4755 is 2541).
var statFunc = jsonFunc(abi.FuncStat, (*Caller).stat)

func (c *Caller) stat(ctx context.Context, req abi.StatRequest, b *callBudget) ([]byte, error) {
	f, g, err := c.openGranted(ctx, abi.FuncStat, "stat", req.Path, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat: %s: %w", quote(g.path), err)
	}
	fi := fileInfoOf(&st)
	return b.encode("the stat of "+quote(g.path), func(w *jsonOut) {
		w.raw(`{"name":`)
		w.str(filepath.Base(g.path))
		w.raw(`,"type":"`)
		w.raw(fileType(fi))
		w.raw(`","size":`)
		w.int(st.Size)
		w.raw(`,"mode":`)
		w.uint(uint64(st.Mode & 0o7777))
		w.raw(`,"mtime_ns":`)
		w.int(st.Mtim.Nano())
		w.raw("}")
	})
}

// fileInfoOf is the file type of a stat result as an fs.FileMode.
func fileInfoOf(st *unix.Stat_t) os.FileMode {
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return os.ModeDir
	case syscall.S_IFREG:
		return 0
	case syscall.S_IFLNK:
		return os.ModeSymlink
	}
	return os.ModeIrregular
}
