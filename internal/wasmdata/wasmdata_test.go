package wasmdata

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// newRuntime is wazero's interpreter: these tests look at memory, not
// speed, and it compiles a 4 MB module in a fraction of the time.
func newRuntime() wazero.Runtime {
	return wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
}

// module builds a module with one memory page, one exported memory and the
// given data section body.
func module(data []byte, extra ...[]byte) []byte {
	m := append([]byte(nil), magic...)
	section := func(id byte, body []byte) {
		m = append(m, id)
		m = appendU32(m, uint32(len(body)))
		m = append(m, body...)
	}
	section(5, []byte{1, 0, 1})                   // memory: 1 page, no max
	section(7, []byte{1, 3, 'm', 'e', 'm', 2, 0}) // export "mem" memory 0
	for _, e := range extra {
		section(e[0], e[1:])
	}
	section(sectionData, data)
	return m
}

func active(offset int32, b ...byte) []byte {
	s := []byte{0, 0x41}
	s = appendS32(s, offset)
	s = append(s, 0x0b)
	s = appendU32(s, uint32(len(b)))
	return append(s, b...)
}

func segments(segs ...[]byte) []byte {
	b := appendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		b = append(b, s...)
	}
	return b
}

// memoryOf instantiates m and returns its initial memory.
func memoryOf(t testing.TB, m []byte) []byte {
	t.Helper()
	ctx := context.Background()
	rt := newRuntime()
	defer rt.Close(ctx)
	inst, err := rt.Instantiate(ctx, m)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	mem := inst.ExportedMemory("mem")
	b, _ := mem.Read(0, mem.Size())
	return bytes.Clone(b)
}

func dataCount(t testing.TB, m []byte) int {
	t.Helper()
	n, err := Segments(m)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMerge(t *testing.T) {
	passive := append([]byte{1}, appendU32(nil, 2)...)
	passive = append(passive, 'p', 'q')
	orig := module(segments(
		active(0, 'a', 'b'),
		active(4, 'c'),    // 2 zeros after "ab": merged
		active(5, 'd'),    // adjacent: merged
		active(1000, 'e'), // far: its own
		active(990, 'f'),  // before the one above: never merged with it
		passive,           // passive: kept as it is
		active(1200, 'g', 'h'),
	), []byte{sectionDataCount, 7})
	got, err := Merge(orig, 16)
	if err != nil {
		t.Fatal(err)
	}
	if n := dataCount(t, got); n != 5 {
		t.Errorf("%d segments after merging, want 5", n)
	}
	if !bytes.Equal(memoryOf(t, got), memoryOf(t, orig)) {
		t.Error("the merged module's initial memory differs")
	}
	// The data count section follows the merged count (wazero checks it).
	if _, err := newRuntime().CompileModule(context.Background(), got); err != nil {
		t.Errorf("merged module does not compile: %v", err)
	}

	// Zeros between two segments never cover what an earlier one wrote.
	written := module(segments(
		active(2, 'x'),
		active(0, 'a', 'b'), // "ab" then "c" at 4 would zero the "x" at 2
		active(4, 'c'),
	))
	if got, err := Merge(written, 16); err != nil || dataCount(t, got) != 3 || !bytes.Equal(memoryOf(t, got), memoryOf(t, written)) {
		t.Errorf("merged over an earlier segment: %d segments, %v", dataCount(t, got), err)
	}

	if same, err := Merge(orig, 0); err != nil || dataCount(t, same) != 6 {
		t.Errorf("gap 0 merges adjacent segments only: %d, %v", dataCount(t, same), err)
	}
	noData := module(nil)[:len(module(nil))-2] // no data section at all
	if out, err := Merge(noData, 16); err != nil || !bytes.Equal(out, noData) {
		t.Errorf("a module without data: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm\x02\x00\x00\x00"), append(append([]byte(nil), magic...), 11, 5, 1), module([]byte{1, 7})} {
		if _, err := Merge(bad, 16); err == nil {
			t.Errorf("Merge(%q) did not fail", bad)
		}
	}
}

// TestMergeGoGuest merges a real Go guest: the built-in bundle when make
// has built it (make merges it already: merging again must change
// nothing). Its initial memory, as its segments lay it out, is the same,
// in a few segments instead of ~40,000. (Compiling it is left to the
// tests of core/wasmhost and core/agent, which run it.)
func TestMergeGoGuest(t *testing.T) {
	orig, err := os.ReadFile("../../core/builtinwasm/wasm/builtin.wasm")
	if err != nil {
		t.Skipf("no bundle (make wasm builds it): %v", err)
	}
	got, err := Merge(orig, DefaultGap)
	if err != nil {
		t.Fatal(err)
	}
	if n := dataCount(t, got); n > 100 {
		t.Errorf("%d segments after merging", n)
	}
	if !bytes.Equal(layout(t, got), layout(t, orig)) {
		t.Error("the merged bundle's initial memory differs")
	}
	again, err := Merge(got, DefaultGap)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("merging twice changes the module: %v", err)
	}
}

// layout writes a module's active segments, in order, into zeroed memory
// (what instantiation does, without wazero's cost on a 4 MB module).
func layout(t testing.TB, m []byte) []byte {
	t.Helper()
	var mem []byte
	for r := m[len(magic):]; len(r) > 0; {
		size, n, _ := readU32(r[1:])
		if r[0] == sectionData {
			body := r[1+n : 1+n+int(size)]
			count, k, _ := readU32(body)
			rest := body[k:]
			for range count {
				var s segment
				var err error
				if s, rest, err = readSegment(rest); err != nil || !s.mergeable {
					t.Fatalf("segment: %v (mergeable %v)", err, s.mergeable)
				}
				if end := int(s.offset) + len(s.data); end > len(mem) {
					mem = append(mem, make([]byte, end-len(mem))...)
				}
				copy(mem[s.offset:], s.data)
			}
		}
		r = r[1+n+int(size):]
	}
	return mem
}

// FuzzMerge: whatever the input, Merge does not panic; a module it merges
// has the same initial memory as the input, when wazero takes the input.
func FuzzMerge(f *testing.F) {
	f.Add(module(segments(active(0, 'a'), active(3, 'b'), active(100, 'c'))), 8)
	f.Add(module(segments(active(10, 'a'), active(5, 'b'))), 100)
	f.Add(module(segments(active(65530, 1, 2, 3, 4, 5, 6))), 4)
	f.Add(module(segments(active(2, 'x'), active(0, 'a', 'b'), active(4, 'c'))), 16)
	f.Fuzz(func(t *testing.T, m []byte, gap int) {
		gap = min(max(gap, 0), 4096)
		got, err := Merge(m, gap)
		if err != nil {
			return
		}
		ctx := context.Background()
		rt := newRuntime()
		defer rt.Close(ctx)
		inst, err := rt.Instantiate(ctx, m)
		if err != nil {
			return
		}
		mem := inst.ExportedMemory("mem")
		if mem == nil {
			return
		}
		want, _ := mem.Read(0, mem.Size())
		if !bytes.Equal(memoryOf(t, got), want) {
			t.Fatalf("merging %x changed its memory", m)
		}
	})
}

func TestMergeFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "probe.wasm")
	orig := module(segments(active(0, 'a'), active(2, 'b'), active(4, 'c')))
	if err := os.WriteFile(file, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	before, after, err := MergeFile(file, DefaultGap)
	if err != nil || before != 3 || after != 1 {
		t.Fatalf("MergeFile: %d -> %d segments, %v; want 3 -> 1", before, after, err)
	}
	got, _ := os.ReadFile(file)
	if !bytes.Equal(memoryOf(t, got), memoryOf(t, orig)) {
		t.Error("the merged file's initial memory differs")
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode after merging: %v, %v; want 0640 kept", info.Mode(), err)
	}

	// Not a module: an error naming the file, which is left as it was.
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o600)
	if _, _, err := MergeFile(text, DefaultGap); err == nil || !strings.Contains(err.Error(), text) {
		t.Errorf("MergeFile of a text file: %v", err)
	}
	if b, _ := os.ReadFile(text); string(b) != "hello" {
		t.Errorf("a refused file was changed: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
