package projects

import (
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      status
	}{
		{"empty repository", "# branch.oid (initial)\n# branch.head main\n? notes.txt\n",
			status{branch: "main", untracked: 1}},
		{"clean with upstream", "# branch.oid 0123abc\n# branch.head main\n# branch.upstream origin/main\n# branch.ab +2 -1\n",
			status{oid: "0123abc", branch: "main", upstream: "origin/main", ahead: 2, behind: 1}},
		{"changes of every kind",
			"# branch.oid 0123abc\n# branch.head (detached)\n" +
				"1 .M N... 100644 100644 100644 aaa aaa README.md\n" +
				"1 M. N... 100644 100644 100644 aaa bbb main.go\n" +
				"1 MM N... 100644 100644 100644 aaa bbb both.go\n" +
				"2 R. N... 100644 100644 100644 aaa aaa R100 new.go\told.go\n" +
				"u UU N... 100644 100644 100644 100644 aaa bbb ccc conflict.go\n" +
				"? a.out\n? tmp/\n! ignored.log\n",
			status{oid: "0123abc", branch: "(detached)", staged: 3, modified: 2, untracked: 2, conflicts: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatus(tc.out); got != tc.want {
				t.Errorf("parseStatus:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if n := parseStatus("1 MM N... 1 1 1 a b f\n? x\n").changed(); n != 3 {
		t.Errorf("changed() = %d, want 3", n)
	}
}

func TestParseLog(t *testing.T) {
	c, err := parseLog("0123456789abcdef\x1f1700000000\x1fAda Lovelace\x1ffix: the \x1f odd subject\n")
	if err != nil {
		t.Fatal(err)
	}
	want := commit{hash: "0123456789abcdef", time: time.Unix(1700000000, 0).UTC(), author: "Ada Lovelace", subject: "fix: the \x1f odd subject"}
	if c != want {
		t.Errorf("parseLog = %+v", c)
	}
	for _, bad := range []string{"", "abc\x1fnot-a-time\x1fa\x1fs", "abc\x1f1"} {
		if _, err := parseLog(bad); err == nil {
			t.Errorf("parseLog(%q): no error", bad)
		}
	}
}

func files(names ...string) []sdk.DirEntry {
	var es []sdk.DirEntry
	for _, n := range names {
		typ := "file"
		if n[len(n)-1] == '/' {
			n, typ = n[:len(n)-1], "dir"
		}
		es = append(es, sdk.DirEntry{Name: n, Type: typ})
	}
	return es
}

func TestLanguage(t *testing.T) {
	for _, tc := range []struct {
		entries []sdk.DirEntry
		want    string
	}{
		{files(".git/", "go.mod", "main.go", "README.md"), "Go"},
		{files(".git/", "package.json", "tsconfig.json", "src/"), "TypeScript"},
		{files(".git/", "package.json", "index.js"), "JavaScript"},
		{files(".git/", "pyproject.toml"), "Python"},
		{files(".git/", "build.gradle.kts"), "Kotlin"},
		{files(".git/", "App.sln"), "C#"},
		{files(".git/", "a.c", "b.c", "c.h", "run.sh"), "C"},
		{files(".git/", "a.sh", "b.py"), "Python"}, // a tie goes to the name sorting first
		{files(".git/", "go.mod/"), "unknown"},     // a folder is not a marker
		{files(".git/", "README.md", "LICENSE"), "unknown"},
	} {
		if got := language(tc.entries); got != tc.want {
			t.Errorf("language(%v) = %q, want %q", tc.entries, got, tc.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Root: "/home/me/src/"}
	if err := c.defaults(); err != nil || c.Root != "/home/me/src" || c.Depth != 2 || c.Git != "git" || c.MaxRepos != 100 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for _, root := range []string{"", "src"} {
		c := Config{Root: root}
		if err := c.defaults(); err == nil {
			t.Errorf("root %q accepted", root)
		}
	}
}
