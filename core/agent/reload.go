package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/core/config"
	"github.com/barbossa-agent/barbossa/core/scheduler"
	"github.com/barbossa-agent/barbossa/portal"
)

// dropInPoll is how often the probes folder is looked at (by loop,
// configreload.go). Polling a few
// stat calls is cheaper than it sounds and needs no inotify dependency;
// tests shorten it.
var dropInPoll = 2 * time.Second

// dropIns is the state of the probes folder as the agent last acted on it.
// Only the goroutine that syncs it touches it: New, then Run's watcher.
type dropIns struct {
	dir     string
	loaded  map[string]*dropIn    // by file stem
	acted   map[string]fileStamps // the files as they were when last read
	pending map[string]fileStamps // a change seen once, waiting to settle
	failed  map[string][32]byte   // the content of a version already reported bad
	orphans map[string]bool       // lone .wasm or .toml files already logged
	// folderErr is the probes folder's problem as last logged, so that it
	// is logged once, not every poll.
	folderErr string

	mu       sync.Mutex               // guards problems, read by DropInProblems
	problems map[string]dropInProblem // by file stem; "" for the folder
}

// dropInProblem is why a drop-in (or the whole probes folder) is not run
// as it now is.
type dropInProblem struct {
	file    string // the file at fault: NAME.toml, NAME.wasm, NAME, or the folder
	err     error  // names file, line and key where it has them
	running string // the probe whose previous version runs on, if any
	since   time.Time
}

// DropInProblems lists what the agent does not run of the probes folder as
// it is now, and why, by file: a drop-in refused (bad TOML, a bad module,
// a checksum that does not match, a name already taken, a file or folder
// the agent does not trust) with its error and the file and line at
// fault. When the refused version is a new version of a running drop-in,
// Probe names it: the previous version keeps running. The portal shows
// them in /api/v1/status and on the page. Safe from any goroutine.
func (a *Agent) DropInProblems() []portal.DropInProblem {
	d := &a.dropIns
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]portal.DropInProblem, 0, len(d.problems))
	for _, p := range d.problems {
		v := portal.DropInProblem{File: p.file, Error: p.err.Error(), Probe: p.running, Since: p.since}
		var located *config.Error
		if errors.As(p.err, &located) && located.File == p.file {
			v.Line = located.Line
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// setProblem records why the drop-in of stem ("" for the folder) is not
// run; running names its previous version's probe, if it runs on.
func (a *Agent) setProblem(stem, file string, err error, running string) {
	var located *config.Error
	if errors.As(err, &located) && located.File != "" {
		file = located.File
	}
	d := &a.dropIns
	d.mu.Lock()
	d.problems[stem] = dropInProblem{file: file, err: err, running: running, since: time.Now()}
	d.mu.Unlock()
	a.changes.Bump()
}

// clearProblem forgets the problem of stem, if it has one.
func (a *Agent) clearProblem(stem string) {
	d := &a.dropIns
	d.mu.Lock()
	_, had := d.problems[stem]
	delete(d.problems, stem)
	d.mu.Unlock()
	if had {
		a.changes.Bump()
	}
}

// dropIn is one running drop-in probe.
type dropIn struct {
	name string // the probe's name
	toml string // the file that defines it
	hash [32]byte
}

// fileStamps tells cheaply whether a pair of files may have changed.
type fileStamps [2]fileStamp

// fileStamp holds what a change of content or of trust (a chmod, a chown)
// changes.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
	mode  fs.FileMode
	uid   uint32
}

func stampOf(f dropInFiles) (fileStamps, error) {
	var s fileStamps
	for i, path := range []string{f.toml, f.code} {
		fi, err := os.Stat(path)
		if err != nil {
			return s, err
		}
		uid, _ := owner(fi)
		s[i] = fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi), mode: fi.Mode(), uid: uid}
	}
	return s, nil
}

// syncDropIns brings the running drop-in probes in line with the folder:
// new pairs are added, changed ones (by content) replaced, removed ones
// stopped. A bad drop-in is logged once per version with file, line and
// key, and skipped; a bad new version of a running one leaves the running
// version alone. Nothing else is disturbed. Except at start (settle false),
// a change is acted on once it has stayed the same for one poll, so a file
// still being copied is not read half-written. While the folder is not one
// the agent trusts (trust.go) nothing is loaded, reloaded or stopped.
func (a *Agent) syncDropIns(settle bool) {
	d := &a.dropIns
	folder, err := a.trustedFolder()
	if err != nil {
		return
	}
	pairs, orphans, err := scanDropIns(d.dir)
	if err != nil {
		a.folderProblem(err)
		return
	}
	seen := map[string]bool{}
	for _, f := range pairs {
		seen[f.stem] = true
		stamp, err := stampOf(f)
		if err != nil {
			continue // removed while we looked: the next poll sees it gone
		}
		if last, ok := d.acted[f.stem]; ok && last == stamp {
			delete(d.pending, f.stem)
			continue
		}
		if settle {
			if last, ok := d.pending[f.stem]; !ok || last != stamp {
				d.pending[f.stem] = stamp
				continue
			}
		}
		delete(d.pending, f.stem)
		d.acted[f.stem] = stamp
		a.applyDropIn(folder, f, d.loaded[f.stem])
	}
	removed := false
	for stem, cur := range d.loaded {
		if !seen[stem] {
			a.log.Info("drop-in probe removed", "probe", cur.name, "file", cur.toml)
			a.removeProbe(cur.name)
			delete(d.loaded, stem)
			removed = true
		}
	}
	if removed {
		// A drop-in refused because its name was taken may load now.
		for stem := range d.failed {
			delete(d.acted, stem)
			delete(d.failed, stem)
		}
	}
	for _, m := range []map[string]fileStamps{d.acted, d.pending} {
		for stem := range m {
			if !seen[stem] {
				delete(m, stem)
			}
		}
	}
	for stem := range d.failed {
		if !seen[stem] {
			delete(d.failed, stem)
		}
	}
	d.mu.Lock()
	gone := false
	for stem := range d.problems {
		if stem != "" && !seen[stem] {
			delete(d.problems, stem)
			gone = true
		}
	}
	d.mu.Unlock()
	if gone {
		a.changes.Bump()
	}
	now := map[string]bool{}
	for _, o := range orphans {
		now[o] = true
		if !d.orphans[o] {
			a.log.Warn("drop-in ignored: a probe needs NAME.toml beside NAME.wasm or NAME (a plugin binary)", "file", o)
		}
	}
	d.orphans = now
}

// trustedFolder checks the probes folder, when there is one, and logs and
// records a change in its problem.
func (a *Agent) trustedFolder() (probesFolder, error) {
	d := &a.dropIns
	if _, err := os.Stat(d.dir); errors.Is(err, os.ErrNotExist) {
		a.folderProblem(nil)
		return probesFolder{}, nil
	}
	folder, err := trustFolder(d.dir)
	a.folderProblem(err)
	return folder, err
}

// folderProblem logs a problem of the probes folder once, and when it is
// gone.
func (a *Agent) folderProblem(err error) {
	d := &a.dropIns
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == d.folderErr {
		return
	}
	d.folderErr = msg
	if err == nil {
		a.clearProblem("")
		a.log.Info("probes folder usable again", "dir", d.dir)
		return
	}
	a.setProblem("", d.dir, err, "")
	a.log.Error("probes folder refused: no drop-in is loaded, reloaded or stopped until it is fixed; running ones run on", "dir", d.dir, "err", err)
}

// refuse logs and records a drop-in the agent will not run; cur is the
// running version, if any.
func (a *Agent) refuse(f dropInFiles, cur *dropIn, err error) {
	running := ""
	args := []any{"file", f.toml, "err", err}
	if cur != nil {
		running = cur.name
		args = append(args, "running", "the previous version keeps running")
	}
	a.setProblem(f.stem, f.toml, err, running)
	a.log.Error("drop-in probe skipped", args...)
}

// applyDropIn loads a new or changed drop-in of folder; cur is the running
// version.
func (a *Agent) applyDropIn(folder probesFolder, f dropInFiles, cur *dropIn) {
	d := &a.dropIns
	content, err := readDropInFiles(folder, f, int64(a.cfg.Agent.MaxModuleSize))
	if errors.Is(err, os.ErrNotExist) {
		return // removed since the scan: the next one sees it gone
	}
	if err != nil {
		a.refuse(f, cur, err) // once: until a file changes, its stamp is acted on
		return
	}
	hash := dropInHash(content.toml, content.code())
	if cur != nil && cur.hash == hash {
		a.clearProblem(f.stem) // touched (or trusted again), not changed
		return
	}
	if d.failed[f.stem] == hash {
		return // this version was reported already
	}
	fail := func(err error) {
		d.failed[f.stem] = hash
		a.refuse(f, cur, err)
	}

	taken := map[string]string{}
	for name, p := range a.snapshotProbes() {
		if cur == nil || name != cur.name {
			taken[name] = a.definedIn(p)
		}
	}
	p, err := checkDropIn(f, content, a.cfg.Store.Retention.Duration, taken)
	if err != nil {
		fail(err)
		return
	}
	var c scheduler.Collector
	if !p.Disabled {
		if lp := withLimits(p, a.cfg.Limits); f.runtime == config.RuntimePlugin {
			c, err = a.pluginCollector(lp)
		} else {
			c, err = a.wasmProbe(lp, content.wasm, filepath.Base(f.code), p.Kind)
		}
		if err != nil {
			var located *config.Error
			if !errors.As(err, &located) {
				err = &config.Error{File: f.code, Msg: fmt.Sprintf("probe %q: %v", p.Name, err)}
			}
			fail(err)
			return
		}
	}
	if cur != nil {
		a.removeProbe(cur.name)
		delete(d.loaded, f.stem)
	}
	if err := a.schedule(p, c); err != nil {
		fail(err)
		return
	}
	delete(d.failed, f.stem)
	a.clearProblem(f.stem)
	d.loaded[f.stem] = &dropIn{name: p.Name, toml: f.toml, hash: hash}
	verb := "drop-in probe added"
	if cur != nil {
		verb = "drop-in probe reloaded"
	}
	a.log.Info(verb, "probe", p.Name, "runtime", p.Runtime, "file", f.code, "interval", p.Interval.Duration, "grants", grants(p.Allow))
}

// definedIn says where a probe comes from, for messages.
func (a *Agent) definedIn(p config.Probe) string {
	for _, dl := range a.dropIns.loaded {
		if dl.name == p.Name {
			return dl.toml
		}
	}
	return fmt.Sprintf("%s:%d", a.cfg.File, p.Line)
}

// removeProbe stops a probe, waits for a run in progress (bounded by its
// timeout), frees what its collector holds and forgets it.
func (a *Agent) removeProbe(name string) {
	a.sched.Remove(name)
	if c, ok := a.collectors[name]; ok {
		a.closeCollector(name, c)
		delete(a.collectors, name)
	}
	a.mu.Lock()
	delete(a.probes, name)
	delete(a.guards, name)
	a.mu.Unlock()
	a.store.Forget(name)
	a.changes.Bump()
}

// initDropIns reads the probes folder once at start.
func (a *Agent) initDropIns() {
	a.dropIns = dropIns{
		dir:      probesDir(a.cfg),
		loaded:   map[string]*dropIn{},
		acted:    map[string]fileStamps{},
		pending:  map[string]fileStamps{},
		failed:   map[string][32]byte{},
		orphans:  map[string]bool{},
		problems: map[string]dropInProblem{},
	}
	a.syncDropIns(false)
}
