// Package projects is an example WASM probe, the one to copy when writing
// your own: it reports the git repositories under a folder — branch, last
// commit, uncommitted changes, language — the way the original Barbossa's
// projects page did.
//
// It finds repositories by listing folders (the read_file host function,
// granted with [probe.allow] read) and asks git about each (the exec host
// function, granted with [probe.allow] exec as the two git commands it runs, in
// projects.toml). Everything else is
// plain Go against the sdk package; the SDK hides the WASM ABI.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o projects.wasm ./examples/projects/cmd
//
// README.md takes you from nothing to its data in the portal.
package projects

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Config is the probe's [probe.config] table.
type Config struct {
	// Root is the folder holding the repositories (required, absolute). It
	// must be granted: [probe.allow] read = [ROOT].
	Root string `json:"root"`
	// Depth is how many folder levels below Root are searched (default 2:
	// ~/src/repo and ~/src/group/repo). A repository is not searched inside.
	Depth int `json:"depth"`
	// Git is the git program, as granted in [probe.allow] exec (default "git").
	Git string `json:"git"`
	// MaxRepos caps the repositories reported (default 100), so a wrong root
	// cannot make a run take minutes.
	MaxRepos int `json:"max_repos"`
}

func (c *Config) defaults() error {
	if c.Root == "" || !path.IsAbs(c.Root) {
		return fmt.Errorf("config: root must be an absolute folder, not %q", c.Root)
	}
	c.Root = path.Clean(c.Root)
	if c.Depth <= 0 {
		c.Depth = 2
	}
	if c.Git == "" {
		c.Git = "git"
	}
	if c.MaxRepos <= 0 {
		c.MaxRepos = 100
	}
	return nil
}

// Probe reports git repositories. It keeps no state between runs.
type Probe struct{}

var _ sdk.Probe = (*Probe)(nil)

// New returns a projects probe.
func New() *Probe { return &Probe{} }

// Info names the probe "projects".
func (*Probe) Info() sdk.Info {
	return sdk.Info{Name: "projects", Version: "1.0.0", Description: "git repositories under a folder: branch, last commit, changes, language"}
}

// Collect finds the repositories under Root and asks git about each. A
// repository git cannot read is an entity with health unknown and the
// reason, not a failed run; a root it may not list is an error.
func (*Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return sdk.Report{}, err
	}
	if err := cfg.defaults(); err != nil {
		return sdk.Report{}, err
	}
	repos, truncated, err := find(ctx, cfg)
	if err != nil {
		return sdk.Report{}, err
	}
	now := time.Now()
	r := sdk.Report{Status: sdk.StatusOK}
	dirty := 0
	for _, repo := range repos {
		if ctx.Err() != nil {
			return sdk.Report{}, ctx.Err() // out of time: a partial list would look like deleted repos
		}
		info := inspect(ctx, cfg, repo)
		if info.dirty() {
			dirty++
		}
		addRepo(&r, info, now)
	}
	root := map[string]string{"root": cfg.Root}
	r.Gauge("projects.repositories", float64(len(repos)), root)
	r.Gauge("projects.dirty", float64(dirty), root)
	r.Message = fmt.Sprintf("%d %s, %d with uncommitted changes", len(repos), plural(len(repos), "repository", "repositories"), dirty)
	if truncated {
		r.Worst(sdk.StatusWarn)
		r.Message += fmt.Sprintf(" (stopped at max_repos = %d)", cfg.MaxRepos)
	}
	return r, nil
}

// repo is one repository found under the root.
type repo struct {
	rel     string         // path below the root ("." for the root itself)
	abs     string         // absolute path
	entries []sdk.DirEntry // its top-level entries, for the language
}

// find lists folders breadth-first down to cfg.Depth and returns those
// holding a .git (a folder, or a file for worktrees and submodules).
func find(ctx context.Context, cfg Config) (repos []repo, truncated bool, err error) {
	type dir struct {
		abs   string
		depth int
	}
	queue := []dir{{cfg.Root, 0}}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		entries, err := sdk.ReadDir(ctx, d.abs)
		if err != nil {
			if d.abs == cfg.Root || errors.Is(err, sdk.ErrTimeout) {
				return nil, false, fmt.Errorf("list %s: %w", d.abs, err)
			}
			continue // a folder we may not read is not a repository
		}
		if hasGit(entries) {
			rel := strings.TrimPrefix(strings.TrimPrefix(d.abs, cfg.Root), "/")
			if rel == "" {
				rel = "."
			}
			if len(repos) == cfg.MaxRepos {
				return repos, true, nil
			}
			repos = append(repos, repo{rel: rel, abs: d.abs, entries: entries})
			continue
		}
		if d.depth == cfg.Depth {
			continue
		}
		for _, e := range entries {
			if e.Type == "dir" && !skipDir(e.Name) {
				queue = append(queue, dir{path.Join(d.abs, e.Name), d.depth + 1})
			}
		}
	}
	return repos, false, nil
}

func hasGit(entries []sdk.DirEntry) bool {
	for _, e := range entries {
		if e.Name == ".git" && (e.Type == "dir" || e.Type == "file") {
			return true
		}
	}
	return false
}

// skipDir leaves out hidden folders and the big trees of dependencies.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" || name == "target"
}

// repoInfo is what git said about a repository.
type repoInfo struct {
	repo
	status status
	commit commit
	err    string // why git could not tell, or ""
}

func (i repoInfo) dirty() bool { return i.err == "" && i.status.changed() > 0 }

// inspect runs git status and git log in the repository. core.fsmonitor is
// forced off: a repository's own config could otherwise make git run a
// program of its choosing.
func inspect(ctx context.Context, cfg Config, r repo) repoInfo {
	info := repoInfo{repo: r}
	git := func(args ...string) (string, error) {
		argv := append([]string{cfg.Git, "-C", r.abs, "--no-optional-locks", "-c", "core.fsmonitor=false"}, args...)
		return sdk.Output(ctx, argv...)
	}
	out, err := git("status", "--porcelain=v2", "--branch")
	if err != nil {
		info.err = err.Error()
		return info
	}
	info.status = parseStatus(out)
	if info.status.oid == "" { // "(initial)": no commit yet, and git log would fail
		return info
	}
	out, err = git("log", "-1", "--format="+logFormat)
	if err != nil {
		info.err = err.Error()
		return info
	}
	info.commit, _ = parseLog(out)
	return info
}

// addRepo adds one repository's entity and metrics to the report.
func addRepo(r *sdk.Report, info repoInfo, now time.Time) {
	labels := func() map[string]string { return map[string]string{"repo": info.rel} }
	attrs := map[string]any{
		"path":     info.abs,
		"language": language(info.entries),
	}
	e := sdk.Entity{Kind: "repository", ID: info.rel, Name: path.Base(info.abs), Health: sdk.StatusOK, Attrs: attrs}
	if info.err != "" {
		e.State, e.Health = "unreadable", sdk.StatusUnknown
		attrs["error"] = info.err
		r.Add(e)
		return
	}
	s := info.status
	e.State = "clean"
	if s.changed() > 0 {
		e.State = "dirty"
	}
	attrs["branch"] = s.branch
	attrs["staged"] = s.staged
	attrs["modified"] = s.modified
	attrs["untracked"] = s.untracked
	if s.conflicts > 0 {
		attrs["conflicts"] = s.conflicts
		e.Health = sdk.StatusWarn
	}
	if s.upstream != "" {
		attrs["upstream"] = s.upstream
		attrs["ahead"] = s.ahead
		attrs["behind"] = s.behind
	}
	r.Gauge("projects.repo.changed_files", float64(s.changed()), labels())
	if c := info.commit; c.hash != "" {
		attrs["commit"] = c.hash[:min(12, len(c.hash))]
		attrs["commit_time"] = c.time.Format(time.RFC3339)
		attrs["author"] = c.author
		attrs["subject"] = c.subject
		r.Gauge("projects.repo.commit_age_seconds", max(now.Sub(c.time).Seconds(), 0), labels())
	}
	r.Add(e)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
