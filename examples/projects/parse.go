package projects

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// status is what `git status --porcelain=v2 --branch` says.
type status struct {
	oid              string // the commit checked out; "" before the first
	branch           string // "(detached)" when no branch is checked out
	upstream         string
	ahead, behind    int
	staged, modified int // changed in the index, in the work tree
	untracked        int
	conflicts        int
}

func (s status) changed() int { return s.staged + s.modified + s.untracked + s.conflicts }

// parseStatus reads porcelain v2 output, a format git keeps stable for
// scripts. A file changed both in the index and in the work tree counts in
// staged and in modified.
func parseStatus(out string) status {
	var s status
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		if h, ok := strings.CutPrefix(line, "# "); ok {
			key, val, _ := strings.Cut(h, " ")
			switch key {
			case "branch.oid":
				if val != "(initial)" {
					s.oid = val
				}
			case "branch.head":
				s.branch = val
			case "branch.upstream":
				s.upstream = val
			case "branch.ab":
				fmt.Sscanf(val, "+%d -%d", &s.ahead, &s.behind)
			}
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "1", "2": // ordinary, renamed or copied: "XY ..."
			if len(rest) >= 2 {
				if rest[0] != '.' {
					s.staged++
				}
				if rest[1] != '.' {
					s.modified++
				}
			}
		case "u":
			s.conflicts++
		case "?":
			s.untracked++
		}
	}
	return s
}

// logFormat is git log's --format for parseLog: hash, commit time (Unix),
// author, subject, separated by the unit separator that no name contains.
const logFormat = "%H%x1f%ct%x1f%an%x1f%s"

type commit struct {
	hash    string
	time    time.Time
	author  string
	subject string
}

func parseLog(out string) (commit, error) {
	f := strings.SplitN(strings.TrimRight(out, "\n"), "\x1f", 4)
	if len(f) != 4 {
		return commit{}, fmt.Errorf("git log: %d fields, want 4", len(f))
	}
	sec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return commit{}, fmt.Errorf("git log: commit time: %w", err)
	}
	return commit{hash: f[0], time: time.Unix(sec, 0).UTC(), author: f[2], subject: f[3]}, nil
}

// markers name a language by a file at the top of a repository, checked
// in order (TypeScript projects have a package.json too).
var markers = []struct{ file, language string }{
	{"go.mod", "Go"},
	{"Cargo.toml", "Rust"},
	{"tsconfig.json", "TypeScript"},
	{"package.json", "JavaScript"},
	{"pyproject.toml", "Python"},
	{"setup.py", "Python"},
	{"requirements.txt", "Python"},
	{"Pipfile", "Python"},
	{"pom.xml", "Java"},
	{"build.gradle.kts", "Kotlin"},
	{"build.gradle", "Java"},
	{"Gemfile", "Ruby"},
	{"composer.json", "PHP"},
	{"mix.exs", "Elixir"},
	{"Package.swift", "Swift"},
	{"pubspec.yaml", "Dart"},
	{"stack.yaml", "Haskell"},
	{"CMakeLists.txt", "C++"},
	{"meson.build", "C"},
}

// extensions name a language by the most common extension at the top of a
// repository when no marker file does.
var extensions = map[string]string{
	".go": "Go", ".rs": "Rust", ".ts": "TypeScript", ".js": "JavaScript", ".py": "Python",
	".java": "Java", ".kt": "Kotlin", ".rb": "Ruby", ".php": "PHP", ".ex": "Elixir",
	".swift": "Swift", ".dart": "Dart", ".hs": "Haskell", ".c": "C", ".h": "C",
	".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".cs": "C#", ".sh": "Shell",
	".lua": "Lua", ".pl": "Perl", ".r": "R", ".scala": "Scala", ".zig": "Zig",
	".wat": "WebAssembly", ".tf": "HCL", ".nix": "Nix",
}

// language guesses a repository's main language from its top-level
// entries: a marker file, else the most common known extension (ties go
// to the name that sorts first), else "unknown".
func language(entries []sdk.DirEntry) string {
	files := map[string]bool{}
	count := map[string]int{}
	for _, e := range entries {
		if e.Type == "dir" {
			continue
		}
		files[e.Name] = true
		if l, ok := extensions[strings.ToLower(path.Ext(e.Name))]; ok {
			count[l]++
		}
	}
	for _, m := range markers {
		if files[m.file] {
			return m.language
		}
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name, ".csproj") || strings.HasSuffix(e.Name, ".sln") {
			return "C#"
		}
	}
	best, n := "unknown", 0
	for l, c := range count {
		if c > n || c == n && l < best {
			best, n = l, c
		}
	}
	return best
}
