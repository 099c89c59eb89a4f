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

	"golang.org/x/sys/unix"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

const (
	defaultReadBytes = 1 << 20
	maxReadBytes     = 16 << 20
	// A listing holds defaultDirEntries entries unless the probe's
	// max_dir_entries says otherwise, and never over maxDirEntriesCap.
	defaultDirEntries = 10000
	maxDirEntriesCap  = 1000000
)

// readFileFunc is the host function "read_file" (docs/ABI.md), JSON in and out:
//
//	request  {"path": "/proc/loadavg", "max_bytes": 4096}
//	response {"data": "0.01 0.05 ...", "truncated": false}
//	       | {"data": "AAEC...", "encoding": "base64"}   (data that is not UTF-8)
//	       | {"entries": [{"name": "1", "type": "dir", "size": 0, "mtime_ns": 1733...}, ...],
//	          "truncated": true}                         (a directory; truncated when cut)
//	       | {"error": "denied: read of \"/etc/shadow\" is not granted to probe \"x\""}
//
// The path is checked and opened by openGranted. Only regular files and
// directories are read: a FIFO or device could block. max_bytes defaults
// to 1 MiB and is capped at 16 MiB; a directory lists at most the probe's
// max_dir_entries (10,000 by default). The data is read within the call's
// budget, and the answer built within it.
var readFileFunc = jsonFunc(abi.FuncReadFile, (*Caller).readFile)

// granted is a path a read grant allows, as openGranted opened it.
type granted struct {
	path   string // as asked, cleaned
	opened string // the opened file's real path
	fsType int64  // its filesystem's type (statfs f_type)
}

// openGranted opens path for host function fn if the probe's read grants
// allow it ("read of", "stat of" ... is denied otherwise), with flags
// (os.O_RDONLY to read, syscall.O_PATH to look): path must be absolute;
// it is cleaned (so ".." cannot climb out), checked against the granted
// prefixes, resolved with filepath.EvalSymlinks and checked again (so a
// symlink cannot lead out), opened without following a last symlink, and
// the opened file's real path is checked a third time through
// /proc/self/fd (so a symlink swapped in between cannot either). One of
// the secrets of secrets.go is refused whatever the grant, before it is
// opened (opening some has effects) and again once it is.
func (c *Caller) openGranted(ctx context.Context, fn, verb, reqPath string, flags int) (*os.File, granted, error) {
	var g granted
	if !filepath.IsAbs(reqPath) {
		return nil, g, fmt.Errorf("%s: path %s is not absolute", fn, quote(reqPath))
	}
	path := filepath.Clean(reqPath)
	g.path = path
	if !c.policy.readGranted(path) {
		return nil, g, c.deny(ctx, fn, verb+" of "+quote(path))
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, g, fmt.Errorf("%s: %w", fn, unwrapPathError(err))
	}
	if !c.policy.readResolvedGranted(real) {
		return nil, g, c.deny(ctx, fn, fmt.Sprintf("%s of %s (it resolves to %s)", verb, quote(path), quote(real)))
	}
	var st syscall.Statfs_t
	if syscall.Statfs(real, &st) == nil {
		if why := secretReason(int64(st.Type), real); why != "" {
			return nil, g, c.deny(ctx, fn, fmt.Sprintf("%s of %s (%s; never granted)", verb, quote(real), why))
		}
	}
	f, err := os.OpenFile(real, flags|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, g, fmt.Errorf("%s: %w", fn, unwrapPathError(err))
	}
	g.opened = real
	if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil {
		g.opened = p
	}
	fail := func(err error) (*os.File, granted, error) {
		f.Close()
		return nil, g, err
	}
	if !c.policy.readResolvedGranted(g.opened) {
		return fail(c.deny(ctx, fn, fmt.Sprintf("%s of %s (it was swapped for %s)", verb, quote(path), quote(g.opened))))
	}
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return fail(fmt.Errorf("%s: %s: %w", fn, quote(path), err))
	}
	g.fsType = int64(st.Type)
	if why := secretReason(g.fsType, g.opened); why != "" {
		return fail(c.deny(ctx, fn, fmt.Sprintf("%s of %s (%s; never granted)", verb, quote(g.opened), why)))
	}
	return f, g, nil
}

func (c *Caller) readFile(ctx context.Context, req abi.ReadFileRequest, b *callBudget) ([]byte, error) {
	f, g, err := c.openGranted(ctx, abi.FuncReadFile, "read", req.Path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	path := g.path
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", err)
	}
	switch {
	case fi.IsDir():
		return c.readDir(f, g, b)
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

// listed is one entry of a listing, with what fstatat said of it.
type listed struct {
	fs.DirEntry
	stat *unix.Stat_t // nil when it could not be read, or is a secret
}

// readDir lists f, the folder g names, at most the probe's max_dir_entries
// entries (defaultDirEntries unless set), a chunk at a time: each chunk is
// charged to the call's work budget before the next is read. One entry
// more is read to tell a full listing from a cut one, which the answer
// says ("truncated"). Each entry's size and mtime come from fstatat on the
// opened folder, not following a symlink, so neither a symlink nor a
// folder swapped on the way can lead the stat out of the grant; an
// entry that is one of secrets.go's files gets none.
func (c *Caller) readDir(f *os.File, g granted, b *callBudget) ([]byte, error) {
	limit := c.policy.dirEntries
	var (
		des  []listed
		held int64
	)
	defer func() { b.giveWork(held) }()
	truncated := false
	for len(des) <= limit {
		chunk, err := f.ReadDir(min(512, limit+1-len(des)))
		cost := int64(0)
		for _, de := range chunk {
			cost += int64(len(de.Name())) + dirEntryCost
		}
		if !b.takeWork(cost) {
			return nil, b.tooLarge(fmt.Sprintf("the listing of %s", quote(g.path)))
		}
		held += cost
		for _, de := range chunk {
			des = append(des, listed{DirEntry: de, stat: statAt(f, de.Name(), g)})
		}
		if errors.Is(err, io.EOF) || len(chunk) == 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read_file: %w", err)
		}
	}
	if len(des) > limit {
		des, truncated = des[:limit], true
	}
	return b.encode("the listing of "+quote(g.path), func(w *jsonOut) {
		w.raw(`{"entries":[`)
		for i, de := range des {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"name":`)
			w.str(de.Name())
			w.raw(`,"type":"`)
			w.raw(fileType(de.Type()))
			w.raw(`"`)
			if st := de.stat; st != nil {
				w.raw(`,"size":`)
				w.int(st.Size)
				w.raw(`,"mtime_ns":`)
				w.int(st.Mtim.Nano())
			}
			w.raw(`}`)
		}
		w.raw("]")
		if truncated {
			w.raw(`,"truncated":true`)
		}
		w.raw("}")
	})
}

// statAt is fstatat of name in the opened folder dir, not following a
// symlink; nil when it fails (the entry went away) or the entry is a
// secret.
func statAt(dir *os.File, name string, g granted) *unix.Stat_t {
	if secretReason(g.fsType, g.opened+"/"+name) != "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	return &st
}

// fileType names a file's type as the ABI does.
func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "other"
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
