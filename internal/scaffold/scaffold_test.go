package scaffold

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa"
)

var update = flag.Bool("update", false, "regenerate module/ from the repository's go.mod and go.sum (needs the modules in the module cache)")

// offline is the environment of a go command that must not reach the
// network: everything comes from the module cache.
func offline() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
}

func goCmd(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// TestModuleFiles regenerates module/ with -update: the SDK module's
// go.mod as `go mod tidy` makes it from the repository's requirements, and
// the requirements and sums a project needs as `go build` adds them, for
// both of its builds. Without -update it checks that module/ asks for the
// versions the repository's go.mod has (the cmd/barbossa test builds real
// projects and checks that nothing needed adding).
func TestModuleFiles(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		regenerate(t, root)
	}
	ours := requirements(t, mustRead(t, filepath.Join(root, "go.mod")))
	sdkMod := mustRead(t, "module/sdk.go.mod")
	theirs := requirements(t, sdkMod)
	if len(theirs) == 0 {
		t.Fatal("module/sdk.go.mod requires nothing")
	}
	for mod, v := range theirs {
		if want, ok := ours[mod]; ok && want != v {
			t.Errorf("module/sdk.go.mod requires %s %s, the repository %s: run go test ./internal/scaffold -run TestModuleFiles -update", mod, v, want)
		}
	}
	for mod, v := range requirements(t, mustRead(t, "module/requires.txt")) {
		if theirs[mod] != v {
			t.Errorf("module/requires.txt has %s %s, module/sdk.go.mod %q: run go test ./internal/scaffold -run TestModuleFiles -update", mod, v, theirs[mod])
		}
	}
	goLine := regexp.MustCompile(`(?m)^go [0-9.]+$`)
	if a, b := goLine.Find(sdkMod), goLine.Find(mustRead(t, filepath.Join(root, "go.mod"))); !bytes.Equal(a, b) {
		t.Errorf("module/sdk.go.mod has %q, the repository %q", a, b)
	}
}

// regenerate writes module/: tidy the SDK module from the repository's
// requirements and sums, then build a project of each Go kind and keep
// what the go command added to its go.mod and go.sum.
func regenerate(t *testing.T, root string) {
	sdkDir := t.TempDir()
	sdk, err := sdkFiles(barbossa.SDK)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sdk {
		write(t, filepath.Join(sdkDir, strings.TrimPrefix(f.path, "third_party/barbossa/")), f.data)
	}
	write(t, filepath.Join(sdkDir, "go.mod"), mustRead(t, filepath.Join(root, "go.mod")))
	write(t, filepath.Join(sdkDir, "go.sum"), mustRead(t, filepath.Join(root, "go.sum")))
	goCmd(t, sdkDir, offline(), "mod", "tidy")
	write(t, "module/sdk.go.mod", mustRead(t, filepath.Join(sdkDir, "go.mod")))
	write(t, "module/sdk.go.sum", mustRead(t, filepath.Join(sdkDir, "go.sum")))
	write(t, "module/requires.txt", nil)
	moduleFiles = os.DirFS(".")
	defer func() { moduleFiles = files }()

	proj := filepath.Join(t.TempDir(), "probe")
	if _, err := Write(proj, Options{Name: "probe", Kind: Go, SDK: barbossa.SDK}); err != nil {
		t.Fatal(err)
	}
	goCmd(t, proj, offline(), "build", "./...")
	goCmd(t, proj, append(offline(), "GOOS=wasip1", "GOARCH=wasm"), "build", "-buildmode=c-shared", "-o", os.DevNull, "./cmd")
	goCmd(t, proj, offline(), "vet", "./...")
	var req bytes.Buffer
	for _, line := range strings.Split(string(mustRead(t, filepath.Join(proj, "go.mod"))), "\n") {
		if strings.HasSuffix(line, "// indirect") {
			req.WriteString(line + "\n")
		}
	}
	write(t, "module/requires.txt", req.Bytes())
	write(t, "module/sdk.go.sum", mustRead(t, filepath.Join(proj, "go.sum")))
	t.Logf("module/ regenerated: %d requirements", strings.Count(req.String(), "\n"))
}

// requirements reads "path version" pairs from go.mod text.
func requirements(t *testing.T, gomod []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?([a-z0-9.\-]+\.[a-z]+/\S+)\s+(v\S+)`)
	for _, m := range re.FindAllSubmatch(gomod, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}

// TestSDKIsComplete checks that the embedded SDK holds every package of
// ours that the SDK's packages import, for WASM and natively: a new import
// would make every project fail to build.
func TestSDKIsComplete(t *testing.T) {
	for _, env := range [][]string{nil, {"GOOS=wasip1", "GOARCH=wasm"}} {
		cmd := exec.Command("go", append([]string{"list", "-deps", "-test=false", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}"}, prefixed(sdkPackages)...)...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", env, err)
		}
		for _, pkg := range strings.Fields(string(out)) {
			rel := strings.TrimPrefix(pkg, sdkModulePath+"/")
			if !slices.Contains(sdkPackages, rel) {
				t.Errorf("%v: the SDK imports %s, which a project does not get: add it to sdkPackages and to barbossa.SDK's embed patterns", env, pkg)
			}
		}
	}
	files, err := sdkFiles(barbossa.SDK)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.path, "_test.go") {
			t.Errorf("a test file is copied: %s", f.path)
		}
	}
}

func prefixed(pkgs []string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = sdkModulePath + "/" + p
	}
	return out
}

// TestWrite checks the projects' files without building them: names,
// packages, the go.mod's replace, the WAT probe's data offsets.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dir-watch")
	got, err := Write(dir, Options{Name: "dir-watch", Kind: Native, SDK: barbossa.SDK, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dir-watch.go", "dir-watch_test.go", "cmd/main.go", "probe.toml", "Makefile", "README.md", "go.mod", "go.sum",
		"third_party/barbossa/go.mod", "third_party/barbossa/sdk/report.go", "third_party/barbossa/internal/abi/abi.go", "third_party/barbossa/sdk/sdktest/sdktest.go"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s in %v", want, got)
		}
	}
	src := string(mustRead(t, filepath.Join(dir, "dir-watch.go")))
	if !strings.Contains(src, "package dirwatch") || !strings.Contains(src, `"dir_watch.load"`) || !strings.Contains(src, `Name: "dir-watch"`) {
		t.Errorf("dir-watch.go:\n%s", src)
	}
	gomod := string(mustRead(t, filepath.Join(dir, "go.mod")))
	for _, want := range []string{"module example.com/dir-watch\n", "require github.com/barbossa-agent/barbossa v0.0.0\n", "replace github.com/barbossa-agent/barbossa => ./third_party/barbossa\n", "barbossa 1.2.3"} {
		if !strings.Contains(gomod, want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	if mk := string(mustRead(t, filepath.Join(dir, "Makefile"))); !strings.Contains(mk, "all: native\n") || !strings.Contains(mk, "BARBOSSA ?= barbossa\n") {
		t.Errorf("Makefile:\n%s", mk)
	}

	// A second Write into the same folder is refused; so is a bad name.
	if _, err := Write(dir, Options{Name: "dir-watch", Kind: Go, SDK: barbossa.SDK}); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("writing over a project: %v", err)
	}
	for _, name := range []string{"", "Dir", "1x", "a.b", "a/b", "../x", strings.Repeat("a", 64)} {
		if _, err := Write(filepath.Join(t.TempDir(), "x"), Options{Name: name, Kind: Go, SDK: barbossa.SDK}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := Write(filepath.Join(t.TempDir(), "x"), Options{Name: "x", Kind: "rust"}); err == nil {
		t.Error("kind rust accepted")
	}
}

// TestWATLayout: the WAT probe's static data follow each other without
// overlapping, below the heap, and their lengths are the texts'.
func TestWATLayout(t *testing.T) {
	for _, name := range []string{"u", "a-rather-long-probe-name-that-moves-every-offset-after-it-x"} {
		d, err := newData(Options{Name: name, Kind: WAT})
		if err != nil {
			t.Fatal(err)
		}
		end := 0
		for _, s := range d.Data {
			if s.Off < end || s.Off%16 != 0 {
				t.Errorf("%s: segment at %d overlaps the one before (ending at %d) or is unaligned", name, s.Off, end)
			}
			unescaped := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s.Lit)
			if len(unescaped) != s.Len {
				t.Errorf("%s: segment %q: length %d, want %d", name, s.Lit, s.Len, len(unescaped))
			}
			end = s.Off + s.Len
		}
		if d.Heap < end || d.Heap%1024 != 0 {
			t.Errorf("%s: heap at %d, data end at %d", name, d.Heap, end)
		}
		if !strings.Contains(d.D["describe"].Lit, `\"name\":\"`+name+`\"`) {
			t.Errorf("describe %s", d.D["describe"].Lit)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
