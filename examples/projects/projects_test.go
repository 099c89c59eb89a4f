package projects

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/barbossa-agent/barbossa/core/wasmhost"
	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/testenv"
	"github.com/barbossa-agent/barbossa/sdk"
)

// narrowGit is the exec grant of projects.toml: the two git commands the
// probe runs, and no other argv. The test runs the probe under it.
var narrowGit = func() []string {
	var entry struct{ Allow struct{ Exec []string } }
	if _, err := toml.DecodeFile("projects.toml", &entry); err != nil {
		panic(err)
	}
	return entry.Allow.Exec
}()

// git runs git in dir with a fixed identity.
func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gitRepo makes a repository at dir with files committed.
func gitRepo(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q")
	if len(files) == 0 {
		return
	}
	for _, f := range files {
		write(t, filepath.Join(dir, f), f+"\n")
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "first commit of "+filepath.Base(dir))
}

// TestProjectsThroughWASM builds the example and runs it in the real WASM
// host over real git repositories, as the agent would.
func TestProjectsThroughWASM(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if testenv.InCI() {
			t.Fatalf("git is not installed; CI requires it (sudo scripts/test-deps.sh): %v", err)
		}
		t.Skipf("git is not installed: %v", err)
	}
	root := t.TempDir()
	alpha := filepath.Join(root, "alpha")
	gitRepo(t, alpha, "go.mod", "main.go", "util.go")
	write(t, filepath.Join(alpha, "main.go"), "changed\n") // modified
	write(t, filepath.Join(alpha, "util.go"), "changed\n")
	git(t, alpha, "add", "util.go")                      // staged
	write(t, filepath.Join(alpha, "notes.txt"), "new\n") // untracked
	beta := filepath.Join(root, "group", "beta")
	gitRepo(t, beta, "package.json", "tsconfig.json")
	git(t, beta, "checkout", "-q", "-b", "feature")
	empty := filepath.Join(root, "group", "empty")
	gitRepo(t, empty)
	write(t, filepath.Join(empty, "draft.py"), "x\n")
	write(t, filepath.Join(root, "notes", "todo.txt"), "not a repository\n")
	gitRepo(t, filepath.Join(root, ".hidden", "gamma"), "a.c")        // hidden: skipped
	gitRepo(t, filepath.Join(root, "deep", "a", "b", "delta"), "a.c") // below depth 2

	// The example built as its README says.
	ctx := context.Background()
	m := testenv.LoadProbe(t, "./cmd", New().Info())
	run := func(name string, g hostfuncs.Grants) (sdk.Report, uint64, error) {
		p := m.Probe(wasmhost.ProbeOptions{Name: name, Grants: g, Config: map[string]any{"root": root}})
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := p.Collect(ctx, sdk.Request{})
		return r, p.Denied(), err
	}

	r, denied, err := run("projects", hostfuncs.Grants{Read: []string{root}, Exec: narrowGit})
	if err != nil {
		t.Fatal(err)
	}
	if denied != 0 {
		t.Errorf("%d denied calls", denied)
	}
	t.Logf("%s", r.Message)
	if r.Status != sdk.StatusOK || r.Message != "3 repositories, 2 with uncommitted changes" {
		t.Errorf("status %s, message %q", r.Status, r.Message)
	}
	byID := map[string]sdk.Entity{}
	for _, e := range r.Entities {
		byID[e.ID] = e
	}
	if len(byID) != 3 {
		t.Fatalf("entities: %+v", r.Entities)
	}
	a := byID["alpha"]
	if a.Kind != "repository" || a.State != "dirty" || a.Health != sdk.StatusOK ||
		a.Attrs["branch"] != "main" || a.Attrs["language"] != "Go" ||
		a.Attrs["staged"] != float64(1) || a.Attrs["modified"] != float64(1) || a.Attrs["untracked"] != float64(1) ||
		a.Attrs["subject"] != "first commit of alpha" || a.Attrs["author"] != "Test" ||
		a.Attrs["commit_time"] != "2024-01-02T03:04:05Z" || len(a.Attrs["commit"].(string)) != 12 {
		t.Errorf("alpha = %+v", a)
	}
	b := byID["group/beta"]
	if b.State != "clean" || b.Attrs["branch"] != "feature" || b.Attrs["language"] != "TypeScript" || b.Name != "beta" {
		t.Errorf("beta = %+v", b)
	}
	e := byID["group/empty"]
	if e.State != "dirty" || e.Attrs["untracked"] != float64(1) || e.Attrs["commit"] != nil || e.Attrs["language"] != "Python" {
		t.Errorf("empty = %+v", e)
	}
	metrics := map[string]float64{}
	for _, m := range r.Metrics {
		metrics[m.Name+"/"+m.Labels["repo"]] = m.Value
	}
	if metrics["projects.repositories/"] != 3 || metrics["projects.dirty/"] != 2 ||
		metrics["projects.repo.changed_files/alpha"] != 3 || metrics["projects.repo.changed_files/group/beta"] != 0 {
		t.Errorf("metrics = %v", metrics)
	}
	if age := metrics["projects.repo.commit_age_seconds/alpha"]; age < float64(time.Since(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))/time.Second)-60 {
		t.Errorf("commit age = %v", age)
	}

	// Without exec, the repositories are found but unreadable, with the reason.
	r, denied, err = run("noexec", hostfuncs.Grants{Read: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	if denied != 3 || r.Entities[0].State != "unreadable" || r.Entities[0].Health != sdk.StatusUnknown ||
		!strings.Contains(r.Entities[0].Attrs["error"].(string), `denied: exec of "git" is not granted to probe "noexec"`) {
		t.Errorf("without exec: denied %d, %+v", denied, r.Entities)
	}
	// Without read, the run fails.
	if _, _, err := run("noread", hostfuncs.Grants{Exec: []string{"git"}}); err == nil || !strings.Contains(err.Error(), "denied: read of") {
		t.Errorf("without read: %v", err)
	}
}
