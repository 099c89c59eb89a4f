// Package dirwatch is the dirwatch probe, Barbossa's worked example of a
// probe written outside this repository (README.md): how many files a
// folder holds and how many bytes, how old its newest file is, and an
// entity for each file over a size. It started as `barbossa probe new
// dirwatch`; its only grant is `read` on the one folder it watches.
package dirwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Config is the [config] table of the probe's TOML.
type Config struct {
	// Dir is the folder watched (dir); [allow] read must grant it.
	Dir string
	// BigBytes is the size over which a file gets an entity of its own
	// (big_bytes).
	BigBytes int
	// MaxBig bounds those entities, the biggest files first (max_big).
	MaxBig int
}

// Probe is the dirwatch probe. It keeps nothing between runs.
type Probe struct{}

var _ sdk.Probe = (*Probe)(nil)

// New returns the probe.
func New() *Probe { return &Probe{} }

// Info names the probe; its metrics start with "dirwatch.".
func (*Probe) Info() sdk.Info {
	return sdk.Info{Name: "dirwatch", Version: "1.0.0", Description: "files, bytes and the newest file's age in a folder"}
}

// Collect lists the folder once (each entry's size and mtime come with
// the listing: no stat per file) and reports what Summarize makes of it.
func (*Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	cfg := Config{BigBytes: 1 << 20, MaxBig: 100}
	s := req.Settings() // key by key, without encoding/json's reflection
	s.String("dir", &cfg.Dir)
	s.Int("big_bytes", &cfg.BigBytes)
	s.Int("max_big", &cfg.MaxBig)
	if err := s.Err(); err != nil { // a misspelt key is an error naming it
		return sdk.Report{}, err
	}
	if cfg.Dir == "" {
		return sdk.Report{}, errors.New("[config] dir is not set: name the folder to watch (and grant it in [allow] read)")
	}
	entries, err := sdk.ReadDir(ctx, cfg.Dir)
	truncated := errors.Is(err, sdk.ErrTruncated)
	if err != nil && !truncated {
		return sdk.Report{}, err
	}
	sum := Summarize(entries, int64(cfg.BigBytes))
	sum.Truncated = truncated
	return sum.Report(cfg, time.Now()), nil
}

// Summary is what a listing says of a folder.
type Summary struct {
	Files  int   // regular files (not folders, symlinks or others)
	Bytes  int64 // their sizes added up
	Newest time.Time
	// Big are the files over the size asked, biggest first.
	Big []sdk.DirEntry
	// Truncated is set when the listing stopped at the probe's
	// max_dir_entries: the counts are of the entries listed only.
	Truncated bool
}

// Summarize counts the regular files of a listing. It is pure: tests
// need no host.
func Summarize(entries []sdk.DirEntry, bigBytes int64) Summary {
	var s Summary
	for _, e := range entries {
		if e.Type != "file" {
			continue
		}
		s.Files++
		s.Bytes += e.Size
		if e.ModTime.After(s.Newest) {
			s.Newest = e.ModTime
		}
		if e.Size > bigBytes {
			s.Big = append(s.Big, e)
		}
	}
	slices.SortFunc(s.Big, func(a, b sdk.DirEntry) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.Name, b.Name))
	})
	return s
}

// Report turns the summary into the probe's report at time now.
func (s Summary) Report(cfg Config, now time.Time) sdk.Report {
	dir := map[string]string{"dir": cfg.Dir}
	r := sdk.Report{Status: sdk.StatusOK, Message: fmt.Sprintf("%d files, %d bytes", s.Files, s.Bytes)}
	r.Gauge("dirwatch.files", float64(s.Files), dir)
	r.Gauge("dirwatch.bytes", float64(s.Bytes), dir)
	r.Gauge("dirwatch.big_files", float64(len(s.Big)), dir)
	if !s.Newest.IsZero() {
		age := max(now.Sub(s.Newest), 0).Seconds()
		r.Gauge("dirwatch.newest_age_seconds", age, dir)
		r.Message += fmt.Sprintf(", newest %.0fs old", age)
	}
	truncated := 0.0
	if s.Truncated {
		truncated = 1
		r.Status = sdk.StatusWarn
		r.Message += " (the listing stopped at the probe's max_dir_entries: counts are of those entries only; raise [allow] max_dir_entries)"
	}
	r.Gauge("dirwatch.truncated", truncated, dir)
	for _, e := range s.Big[:min(len(s.Big), cfg.MaxBig)] {
		r.Add(sdk.Entity{Kind: "file", ID: e.Name, Name: e.Name, State: "big", Health: sdk.StatusOK,
			Attrs: map[string]any{"bytes": e.Size, "modified": e.ModTime.UTC().Format(time.RFC3339)}})
	}
	return r
}
