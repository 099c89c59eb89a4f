package hostfuncs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

const (
	defaultReadBytes = 1 << 20
	maxReadBytes     = 16 << 20
	maxDirEntries    = 10000
)

// readFileFunc is the host function "read_file" (docs/ABI.md), JSON in and out:
//
//	request  {"path": "/proc/loadavg", "max_bytes": 4096}
//	response {"data": "0.01 0.05 ...", "truncated": false}
//	       | {"data": "AAEC...", "encoding": "base64"}   (data that is not UTF-8)
//	       | {"entries": [{"name": "1", "type": "dir"}, ...]}   (a directory)
//	       | {"error": "denied: read of \"/etc/shadow\" is not granted to probe \"x\""}
//
// path must be absolute. It is cleaned (so ".." cannot climb out), checked
// against the granted prefixes, resolved with filepath.EvalSymlinks and
// checked again (so a symlink cannot lead out), opened without following a
// last symlink, and the opened file's real path is checked a third time
// through /proc/self/fd (so a symlink swapped in between cannot either).
// Only regular files and directories are read: a FIFO or device could block.
// max_bytes defaults to 1 MiB and is capped at 16 MiB; a directory lists at
// most 10,000 entries.
var readFileFunc = jsonFunc(abi.FuncReadFile, (*Caller).readFile)

func (c *Caller) readFile(ctx context.Context, req abi.ReadFileRequest) (any, error) {
	if !filepath.IsAbs(req.Path) {
		return nil, fmt.Errorf("read_file: path %q is not absolute", req.Path)
	}
	path := filepath.Clean(req.Path)
	if !c.policy.readGranted(path) {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %q", path))
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", unwrapPathError(err))
	}
	if !c.policy.readResolvedGranted(real) {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %q (it resolves to %q)", path, real))
	}
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", unwrapPathError(err))
	}
	defer f.Close()
	if opened, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && !c.policy.readResolvedGranted(opened) {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %q (it was swapped for %q)", path, opened))
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", err)
	}
	switch {
	case fi.IsDir():
		return readDir(f)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("read_file: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	max := req.MaxBytes
	if max <= 0 {
		max = defaultReadBytes
	}
	max = min(max, maxReadBytes)
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", err)
	}
	resp := abi.ReadFileResponse{}
	if int64(len(data)) > max {
		data, resp.Truncated = data[:max], true
	}
	if utf8.Valid(data) {
		resp.Data = string(data)
	} else {
		resp.Data, resp.Encoding = base64.StdEncoding.EncodeToString(data), "base64"
	}
	return resp, nil
}

// dirResponse is the response for a directory; unlike
// abi.ReadFileResponse it keeps "entries" when the directory is empty.
type dirResponse struct {
	Entries []abi.DirEntry `json:"entries"`
}

func readDir(f *os.File) (dirResponse, error) {
	des, err := f.ReadDir(maxDirEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return dirResponse{}, fmt.Errorf("read_file: %w", err)
	}
	resp := dirResponse{Entries: make([]abi.DirEntry, 0, len(des))}
	for _, de := range des {
		t := "other"
		switch {
		case de.Type().IsDir():
			t = "dir"
		case de.Type().IsRegular():
			t = "file"
		case de.Type()&fs.ModeSymlink != 0:
			t = "symlink"
		}
		resp.Entries = append(resp.Entries, abi.DirEntry{Name: de.Name(), Type: t})
	}
	return resp, nil
}

// unwrapPathError keeps "open /x: no such file or directory" short and
// free of the resolved path.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
