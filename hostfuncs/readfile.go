package hostfuncs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unicode/utf8"
	"unsafe"

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
// The opened file is then refused, whatever the grant, when it is one of
// the secrets of secrets.go (another process's environment or memory, the
// kernel's). Only regular files and directories are read: a FIFO or device
// could block. max_bytes defaults to 1 MiB and is capped at 16 MiB; a
// directory lists at most 10,000 entries. The data is read within the
// call's budget, and the answer built within it.
var readFileFunc = jsonFunc(abi.FuncReadFile, (*Caller).readFile)

func (c *Caller) readFile(ctx context.Context, req abi.ReadFileRequest, b *callBudget) ([]byte, error) {
	if !filepath.IsAbs(req.Path) {
		return nil, fmt.Errorf("read_file: path %s is not absolute", quote(req.Path))
	}
	path := filepath.Clean(req.Path)
	if !c.policy.readGranted(path) {
		return nil, c.deny(ctx, abi.FuncReadFile, "read of "+quote(path))
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", unwrapPathError(err))
	}
	if !c.policy.readResolvedGranted(real) {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %s (it resolves to %s)", quote(path), quote(real)))
	}
	// A secret is refused before it is opened (opening some has effects)
	// and checked again once opened, below.
	var st syscall.Statfs_t
	if syscall.Statfs(real, &st) == nil {
		if why := secretReason(int64(st.Type), real); why != "" {
			return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %s (%s; never granted)", quote(real), why))
		}
	}
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", unwrapPathError(err))
	}
	defer f.Close()
	opened := real
	if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil {
		opened = p
	}
	if !c.policy.readResolvedGranted(opened) {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %s (it was swapped for %s)", quote(path), quote(opened)))
	}
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("read_file: %s: %w", quote(path), err)
	}
	if why := secretReason(int64(st.Type), opened); why != "" {
		return nil, c.deny(ctx, abi.FuncReadFile, fmt.Sprintf("read of %s (%s; never granted)", quote(opened), why))
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", err)
	}
	switch {
	case fi.IsDir():
		return readDir(f, b)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("read_file: %s is not a regular file (%s)", quote(path), fi.Mode().Type())
	}
	max := req.MaxBytes
	if max <= 0 {
		max = defaultReadBytes
	}
	max = min(max, maxReadBytes)
	if size := min(fi.Size(), max); size > b.answers.Load() { // its answer could not be smaller
		return nil, b.tooLarge(fmt.Sprintf("read_file of %s (%d bytes)", quote(path), size))
	}
	data, held, err := readWithin(f, max+1, fi.Size()+1, b)
	if err != nil {
		return nil, fmt.Errorf("read_file: %s: %w", quote(path), err)
	}
	defer b.giveWork(held)
	truncated := false
	if int64(len(data)) > max {
		data, truncated = data[:max], true
	}
	return encodeData(b, "read_file of "+quote(path), data, truncated, "data")
}

// encodeData is the answer {KEY: data, "encoding"?, "truncated"?}: data
// as a string when it is UTF-8, base64 otherwise.
func encodeData(b *callBudget, what string, data []byte, truncated bool, key string) ([]byte, error) {
	text := utf8.Valid(data)
	return b.encode(what, func(w *jsonOut) {
		w.raw("{")
		w.key(key)
		w.data(data, text, truncated)
		w.raw("}")
	})
}

// readWithin reads r until EOF or limit bytes, charging the buffer to the
// call's work budget before it is allocated (sizeHint, when positive, is
// the size expected). It returns the data and the bytes charged, which the
// caller gives back once done with the data.
func readWithin(r io.Reader, limit, sizeHint int64, b *callBudget) (data []byte, held int64, err error) {
	size := min(limit, max(sizeHint, 4<<10))
	if !b.takeWork(size) {
		return nil, 0, b.tooLarge(fmt.Sprintf("reading %d bytes", size))
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return buf, int64(cap(buf)), nil
			}
			grown := min(limit, 2*int64(cap(buf)))
			if !b.takeWork(grown) {
				b.giveWork(int64(cap(buf)))
				return nil, 0, b.tooLarge(fmt.Sprintf("reading past %d bytes", len(buf)))
			}
			next := make([]byte, len(buf), grown)
			copy(next, buf)
			b.giveWork(int64(cap(buf)))
			buf = next
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, int64(cap(buf)), nil
		}
		if err != nil {
			b.giveWork(int64(cap(buf)))
			return nil, 0, err
		}
	}
}

// bytesString is b as a string without a copy, for reading only while b
// is not written to.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// dirEntryCost is what one listed entry holds on the heap besides its
// name, charged to the call's work budget.
const dirEntryCost = 64

// readDir lists f, at most maxDirEntries entries, a chunk at a time: each
// chunk is charged to the call's work budget before the next is read.
func readDir(f *os.File, b *callBudget) ([]byte, error) {
	var (
		des  []fs.DirEntry
		held int64
	)
	defer func() { b.giveWork(held) }()
	for len(des) < maxDirEntries {
		chunk, err := f.ReadDir(min(512, maxDirEntries-len(des)))
		cost := int64(0)
		for _, de := range chunk {
			cost += int64(len(de.Name())) + dirEntryCost
		}
		if !b.takeWork(cost) {
			return nil, b.tooLarge(fmt.Sprintf("the listing of %s", quote(f.Name())))
		}
		held += cost
		des = append(des, chunk...)
		if errors.Is(err, io.EOF) || len(chunk) == 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read_file: %w", err)
		}
	}
	return b.encode("the listing of "+quote(f.Name()), func(w *jsonOut) {
		w.raw(`{"entries":[`)
		for i, de := range des {
			if i > 0 {
				w.raw(",")
			}
			t := "other"
			switch {
			case de.Type().IsDir():
				t = "dir"
			case de.Type().IsRegular():
				t = "file"
			case de.Type()&fs.ModeSymlink != 0:
				t = "symlink"
			}
			w.raw(`{"name":`)
			w.str(de.Name())
			w.raw(`,"type":"`)
			w.raw(t)
			w.raw(`"}`)
		}
		w.raw("]}")
	})
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
