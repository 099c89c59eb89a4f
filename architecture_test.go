package barbossa

import (
	"bufio"
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/barbossa-agent/barbossa"

// TestArchitectureTable checks docs/ARCHITECTURE.md's table of packages
// against the code, as `go list` sees it: every package a row names imports
// exactly the project packages and third-party modules the row lists
// (standard library aside), and every package under core/ and internal/
// has a row. A change of imports without its row fails here, so the table
// cannot drift from the tree.
func TestArchitectureTable(t *testing.T) {
	rows := readTable(t, filepath.Join("docs", "ARCHITECTURE.md"))
	pkgs := modulePackages(t)

	named := map[string]bool{}
	for _, row := range rows {
		if strings.Contains(row.pkg, "<") { // plugins/<name>: a family of probes
			checkFamily(t, row, pkgs)
			continue
		}
		for _, p := range row.pkgs {
			r := row
			r.pkg = p
			checkRow(t, r, pkgs)
			named[p] = true
		}
	}
	for p := range pkgs {
		if depth := strings.Count(p, "/"); (strings.HasPrefix(p, "core/") || strings.HasPrefix(p, "internal/")) && depth == 1 && !named[p] {
			t.Errorf("package %s has no row in docs/ARCHITECTURE.md", p)
		}
	}
}

// checkRow checks that r.pkg imports exactly what its row lists.
func checkRow(t *testing.T, r tableRow, pkgs map[string][]string) {
	imports, ok := pkgs[r.pkg]
	if !ok {
		if _, err := os.Stat(r.pkg); err == nil {
			return // a folder without Go code (packaging)
		}
		t.Errorf("line %d: no package %s", r.line, r.pkg)
		return
	}
	want := map[string]bool{} // what the row lists, resolved to import paths or module names
	for _, name := range r.imports {
		want[resolve(name, pkgs)] = true
	}
	got := map[string]bool{}
	for _, imp := range imports {
		if n := classify(imp, r.imports, pkgs); n != "" {
			got[n] = true
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("line %d: %s imports %s, which its row does not list", r.line, r.pkg, n)
		}
	}
	for _, name := range r.imports {
		if n := resolve(name, pkgs); !got[n] {
			t.Errorf("line %d: %s's row lists %q, which it does not import", r.line, r.pkg, name)
		}
	}
}

type tableRow struct {
	line    int
	pkg     string   // the first package the row names
	pkgs    []string // all of them (a row may name several alike)
	imports []string // the names in the imports column, notes left out
	raw     string   // the imports column as written
}

var (
	rowRE  = regexp.MustCompile("^\\| (`[^`]+`(?:, `[^`]+`)*) \\|.*\\| ([^|]+) \\|$")
	nameRE = regexp.MustCompile("`([^`]+)`")
)

func readTable(t *testing.T, path string) []tableRow {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []tableRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := rowRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := tableRow{line: n, raw: m[2]}
		for _, p := range nameRE.FindAllStringSubmatch(m[1], -1) {
			r.pkgs = append(r.pkgs, p[1])
		}
		r.pkg = r.pkgs[0]
		cell := regexp.MustCompile(`\([^)]*\)`).ReplaceAllString(m[2], "")
		for _, item := range strings.Split(cell, ",") {
			for _, name := range strings.Split(item, " and ") {
				name = strings.TrimSuffix(strings.TrimSpace(name), " only")
				if name != "" && name != "—" && name != "standard library" {
					r.imports = append(r.imports, name)
				}
			}
		}
		rows = append(rows, r)
	}
	if len(rows) < 10 {
		t.Fatalf("%s: found %d rows of the package table; has its format changed?", path, len(rows))
	}
	return rows
}

// modulePackages maps each package of the module (by its path in the
// repository) to its imports in a native build, the footprint tag on.
func modulePackages(t *testing.T) map[string][]string {
	ctx := build.Default
	ctx.BuildTags = append(ctx.BuildTags, "footprint")
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
			return filepath.SkipDir // another module (packaging/tools)
		}
		p, err := ctx.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return nil // a folder of another GOOS's files; not in the table
		}
		rel := filepath.ToSlash(path)
		imports := p.Imports
		switch {
		case strings.HasPrefix(rel, "scripts/"): // a measurement: its tests are its work
			imports = slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		case len(p.GoFiles) == 0:
			return nil // tests of something that is not Go (examples/wat)
		}
		slices.Sort(imports)
		pkgs[rel] = slices.Compact(imports)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// resolve turns a name of the table into what classify returns: a project
// package's path ("store" -> "core/store") or a third-party name as is.
func resolve(name string, pkgs map[string][]string) string {
	if name == "barbossa" {
		return "." // the module's root package
	}
	if _, ok := pkgs[name]; ok {
		return name
	}
	var found []string
	for p := range pkgs {
		if strings.HasSuffix(p, "/"+name) {
			found = append(found, p)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return name
}

// classify names an import as the table would: a project package's path,
// the listed third-party name one of its path elements is, or its module
// path; "" for the standard library.
func classify(imp string, listed []string, pkgs map[string][]string) string {
	if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
		return rel
	}
	if imp == module {
		return "."
	}
	first, _, _ := strings.Cut(imp, "/")
	if !strings.Contains(first, ".") {
		return ""
	}
	elems := strings.Split(imp, "/")
	for _, name := range listed {
		if _, ok := pkgs[resolve(name, pkgs)]; !ok && slices.Contains(elems, name) {
			return name
		}
	}
	return strings.Join(elems[:min(3, len(elems))], "/")
}

// checkFamily checks a row of many packages (plugins/<name>): each imports
// nothing of the project or beyond that the row's cell mentions.
func checkFamily(t *testing.T, r tableRow, pkgs map[string][]string) {
	words := strings.FieldsFunc(r.raw, func(c rune) bool { return strings.ContainsRune(" ,()`", c) })
	for p, imports := range pkgs {
		if !strings.HasPrefix(p, "plugins/") && !strings.HasPrefix(p, "examples/") || strings.HasSuffix(p, "/cmd") || p == "plugins/bundle" {
			continue
		}
		for _, imp := range imports {
			n := classify(imp, words, pkgs)
			if n != "" && !slices.Contains(words, n) {
				t.Errorf("line %d: %s imports %s, which the row of %s does not allow", r.line, p, n, r.pkg)
			}
		}
	}
}

// TestNativePluginsLinkNoWASMRuntime: the packages a native plugin or its
// host are built from reach no wazero package, directly or through the
// project's other packages, so a plugin binary does not carry the WASM
// runtime and the plugin host does not link it.
func TestNativePluginsLinkNoWASMRuntime(t *testing.T) {
	pkgs := modulePackages(t)
	for _, root := range []string{"core/pluginhost", "sdk", "hostfuncs", "internal/abi"} {
		if _, ok := pkgs[root]; !ok {
			t.Fatalf("no package %s", root)
		}
		seen := map[string]bool{}
		var walk func(pkg string, path []string)
		walk = func(pkg string, path []string) {
			if seen[pkg] {
				return
			}
			seen[pkg] = true
			for _, imp := range pkgs[pkg] {
				if strings.HasPrefix(imp, "github.com/tetratelabs/wazero") {
					t.Errorf("%s links %s: %s", root, imp, strings.Join(append(path, imp), " → "))
				}
				if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
					walk(rel, append(path, rel))
				}
			}
		}
		walk(root, []string{root})
	}
}
