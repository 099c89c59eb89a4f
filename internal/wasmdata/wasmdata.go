// Package wasmdata merges the data segments of a WASM module. Go's linker
// writes a module's initial memory as tens of thousands of small active
// segments (it leaves out runs of zeros): the built-in bundle has ~40,000.
// wazero keeps a decoded record of every segment (~3 MB of the agent's
// heap for the bundle) and walks them all at every instantiation,
// allocating a ~1 MB table and a constant per segment, for each fresh
// instance of a probe run. Merging neighbours whose gap is at most a few
// hundred zero bytes gives the same initial memory in a few hundred
// segments (docs/PERFORMANCE.md, "The guest").
//
//	packed, err := wasmdata.Merge(module, wasmdata.DefaultGap)
//
// Only runs of active segments of memory 0 at i32.const offsets, each
// starting past the end of the one before, are merged, and only where the
// zeros between them cover nothing an earlier segment wrote; anything
// else is kept as it is, so a module's meaning never changes.
package wasmdata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// DefaultGap is the largest run of zeros Merge writes out to join two
// segments: the module grows by at most that much per segment saved.
const DefaultGap = 256

const (
	sectionData      = 11
	sectionDataCount = 12
)

var magic = []byte("\x00asm\x01\x00\x00\x00")

// Merge returns module with neighbouring data segments merged when the
// zeros between them are at most maxGap bytes. A module without a data
// section comes back as it is. An error means module is not a WASM binary
// Merge can read; the caller can then use it unchanged.
func Merge(module []byte, maxGap int) ([]byte, error) {
	sections, dataAt, err := readSections(module)
	if err != nil {
		return nil, err
	}
	if dataAt < 0 {
		return module, nil
	}
	body, count, err := mergeData(sections[dataAt].body, maxGap)
	if err != nil {
		return nil, err
	}
	sections[dataAt].body = body
	out := append(make([]byte, 0, len(module)), magic...)
	for _, s := range sections {
		if s.id == sectionDataCount {
			s.body = appendU32(nil, count)
		}
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

type section struct {
	id   byte
	body []byte
}

// readSections splits module into its sections; dataAt is the index of
// the data section, -1 when there is none.
func readSections(module []byte) (sections []section, dataAt int, err error) {
	if !bytes.HasPrefix(module, magic) {
		return nil, -1, errors.New("wasmdata: not a WASM binary module (version 1)")
	}
	dataAt = -1
	for r := module[len(magic):]; len(r) > 0; {
		id := r[0]
		size, n, err := readU32(r[1:])
		if err != nil {
			return nil, -1, fmt.Errorf("wasmdata: section %d: %w", id, err)
		}
		start := 1 + n
		if uint64(len(r)-start) < uint64(size) {
			return nil, -1, fmt.Errorf("wasmdata: section %d: %d bytes past the end", id, uint64(size)-uint64(len(r)-start))
		}
		if id == sectionData {
			dataAt = len(sections)
		}
		sections = append(sections, section{id, r[start : start+int(size)]})
		r = r[start+int(size):]
	}
	return sections, dataAt, nil
}

// Segments counts module's data segments.
func Segments(module []byte) (int, error) {
	sections, dataAt, err := readSections(module)
	if err != nil || dataAt < 0 {
		return 0, err
	}
	n, _, err := readU32(sections[dataAt].body)
	if err != nil {
		return 0, fmt.Errorf("wasmdata: data section: %w", err)
	}
	return int(n), nil
}

// MergeFile merges the data segments of the module in file (Merge with
// maxGap), replacing the file atomically and keeping its mode. It returns
// the number of segments before and after.
func MergeFile(file string, maxGap int) (before, after int, err error) {
	in, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, err
	}
	if before, err = Segments(in); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", file, err)
	}
	out, err := Merge(in, maxGap)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", file, err)
	}
	if after, err = Segments(out); err != nil {
		return 0, 0, fmt.Errorf("%s: merged: %w", file, err)
	}
	info, err := os.Stat(file)
	if err != nil {
		return 0, 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return 0, 0, err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return 0, 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, 0, err
	}
	return before, after, os.Rename(tmp.Name(), file)
}

// segment is one data segment. Only kind 0 (active, memory 0) with an
// i32.const offset has offset set; others keep their encoding in raw.
type segment struct {
	mergeable bool
	active    bool // writes memory at instantiation
	owned     bool // data is no longer a slice of the input
	offset    uint32
	data      []byte
	raw       []byte
}

func mergeData(body []byte, maxGap int) ([]byte, uint32, error) {
	n, k, err := readU32(body)
	if err != nil {
		return nil, 0, fmt.Errorf("wasmdata: data section: %w", err)
	}
	r := body[k:]
	// Every segment takes at least three bytes: n is not trusted further.
	segs := make([]segment, 0, min(uint64(n), uint64(len(r)/3)))
	for i := uint32(0); i < n; i++ {
		s, rest, err := readSegment(r)
		if err != nil {
			return nil, 0, fmt.Errorf("wasmdata: data segment %d: %w", i, err)
		}
		segs = append(segs, s)
		r = rest
	}
	if len(r) != 0 {
		return nil, 0, fmt.Errorf("wasmdata: data section: %d bytes after its segments", len(r))
	}
	// The zeros written between two merged segments must not cover what
	// an earlier segment wrote (written: every range written so far). An
	// active segment whose offset is not a constant may write anywhere:
	// nothing after it is merged.
	var merged []segment
	var written spans
	opaque := false
	for _, s := range segs {
		lo, hi := uint64(s.offset), uint64(s.offset)+uint64(len(s.data))
		if last := len(merged) - 1; last >= 0 && !opaque && s.mergeable && merged[last].mergeable {
			prev := &merged[last]
			end := uint64(prev.offset) + uint64(len(prev.data))
			if lo >= end && lo-end <= uint64(maxGap) && !written.overlap(end, lo) {
				if !prev.owned { // its data is the input's until now
					prev.data, prev.owned = bytes.Clone(prev.data), true
				}
				prev.data = append(append(prev.data, make([]byte, lo-end)...), s.data...)
				written = written.add(end, hi)
				continue
			}
		}
		switch {
		case s.mergeable:
			written = written.add(lo, hi)
		case s.active:
			opaque = true
		}
		merged = append(merged, s)
	}
	out := appendU32(nil, uint32(len(merged)))
	for _, s := range merged {
		if !s.mergeable {
			out = append(out, s.raw...)
			continue
		}
		out = append(out, 0x00, 0x41) // active, memory 0; i32.const
		out = appendS32(out, int32(s.offset))
		out = append(out, 0x0b) // end
		out = appendU32(out, uint32(len(s.data)))
		out = append(out, s.data...)
	}
	return out, uint32(len(merged)), nil
}

// spans are the ranges [lo, hi) of memory written so far, sorted, apart.
type spans []struct{ lo, hi uint64 }

func (sp spans) overlap(lo, hi uint64) bool {
	i := sort.Search(len(sp), func(i int) bool { return sp[i].hi > lo })
	return i < len(sp) && sp[i].lo < hi
}

func (sp spans) add(lo, hi uint64) spans {
	if lo == hi {
		return sp
	}
	i := sort.Search(len(sp), func(i int) bool { return sp[i].hi >= lo })
	j := i
	for j < len(sp) && sp[j].lo <= hi {
		lo, hi = min(lo, sp[j].lo), max(hi, sp[j].hi)
		j++
	}
	return slices.Replace(sp, i, j, struct{ lo, hi uint64 }{lo, hi})
}

// readSegment reads one segment and returns the bytes after it.
func readSegment(r []byte) (segment, []byte, error) {
	start := r
	kind, n, err := readU32(r)
	if err != nil {
		return segment{}, nil, err
	}
	r = r[n:]
	var s segment
	switch kind {
	case 0, 2:
		s.active = true
		if kind == 2 {
			if _, n, err = readU32(r); err != nil { // memory index
				return segment{}, nil, err
			}
			r = r[n:]
		}
		// An i32.const offset is the only expression Merge moves; any
		// other (a global.get, say) is skipped to its end and kept.
		if kind == 0 && len(r) > 0 && r[0] == 0x41 {
			v, n, err := readS32(r[1:])
			if err == nil && 1+n < len(r) && r[1+n] == 0x0b {
				s.mergeable, s.offset = true, uint32(v)
				r = r[2+n:]
				break
			}
		}
		end := bytes.IndexByte(r, 0x0b)
		if end < 0 {
			return segment{}, nil, errors.New("offset expression without an end")
		}
		r = r[end+1:]
	case 1:
	default:
		return segment{}, nil, fmt.Errorf("unknown segment kind %d", kind)
	}
	size, n, err := readU32(r)
	if err != nil {
		return segment{}, nil, err
	}
	r = r[n:]
	if uint64(len(r)) < uint64(size) {
		return segment{}, nil, errors.New("data past the end of the section")
	}
	s.data = r[:size]
	r = r[size:]
	s.raw = start[:len(start)-len(r)]
	return s, r, nil
}

func readU32(b []byte) (uint32, int, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || v > 1<<32-1 {
		return 0, 0, errors.New("bad unsigned LEB128")
	}
	return uint32(v), n, nil
}

// readS32 reads a signed LEB128 of at most 32 bits.
func readS32(b []byte) (int32, int, error) {
	var result int64
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		c := b[i]
		result |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				result |= -1 << shift
			}
			if result < -1<<31 || result > 1<<31-1 {
				return 0, 0, errors.New("signed LEB128 out of range")
			}
			return int32(result), i + 1, nil
		}
	}
	return 0, 0, errors.New("bad signed LEB128")
}

func appendU32(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendS32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
