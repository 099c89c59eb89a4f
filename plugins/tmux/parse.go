package tmux

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sep separates fields in the -F formats below. tmux prints control
// characters inside names as octal escapes (\037), so it never appears in
// a value; the free-form path comes last anyway, so a stray one lands in it.
const sep = "\x1f"

// The formats of the one tmux invocation a run makes: list-sessions and
// list-panes -a, chained with ";" (an argv element, not a shell), each line
// tagged S or P so the two outputs can be told apart.
var (
	sessionFormat = strings.Join([]string{"S", "#{session_id}", "#{session_name}", "#{session_windows}",
		"#{session_attached}", "#{session_created}", "#{session_activity}", "#{session_path}"}, sep)
	paneFormat = strings.Join([]string{"P", "#{session_id}", "#{window_index}", "#{window_name}",
		"#{pane_index}", "#{pane_active}", "#{window_active}", "#{pane_dead}", "#{pane_pid}", "#{pane_current_command}"}, sep)
)

// Session is one tmux session as list-sessions describes it.
type Session struct {
	ID       string // "$3": unique while the server lives
	Name     string
	Windows  int
	Attached int // clients attached to it
	Created  time.Time
	Activity time.Time
	Path     string
	Panes    []Pane
}

// Pane is one pane of a session's window.
type Pane struct {
	Window       int
	WindowName   string
	Index        int
	Active       bool // the active pane of the active window
	Dead         bool // its command exited (remain-on-exit)
	PID          int
	Command      string // pane_current_command: what runs in it now
	windowActive bool
}

// parse turns the output of the list-sessions/list-panes invocation into
// sessions, in tmux's order. Lines it cannot read are returned as errors
// beside the sessions it could, so one odd line does not hide the rest.
func parse(out string) ([]Session, []error) {
	var sessions []Session
	byID := map[string]int{}
	var errs []error
	var panes []struct {
		session string
		pane    Pane
	}
	for n, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		bad := func(err error) { errs = append(errs, fmt.Errorf("line %d %q: %w", n+1, line, err)) }
		kind, rest, _ := strings.Cut(line, sep)
		switch kind {
		case "S":
			s, err := parseSession(rest)
			if err != nil {
				bad(err)
				continue
			}
			byID[s.ID] = len(sessions)
			sessions = append(sessions, s)
		case "P":
			id, p, err := parsePane(rest)
			if err != nil {
				bad(err)
				continue
			}
			panes = append(panes, struct {
				session string
				pane    Pane
			}{id, p})
		default:
			bad(fmt.Errorf("not a session or pane line"))
		}
	}
	for _, p := range panes {
		i, ok := byID[p.session]
		if !ok {
			// A session created between the two listings: it is in the next run.
			continue
		}
		sessions[i].Panes = append(sessions[i].Panes, p.pane)
	}
	return sessions, errs
}

func parseSession(s string) (Session, error) {
	f := strings.SplitN(s, sep, 7)
	if len(f) != 7 {
		return Session{}, fmt.Errorf("%d fields, want 7", len(f))
	}
	var (
		out Session
		err error
	)
	out.ID, out.Name, out.Path = f[0], f[1], f[6]
	if out.Windows, err = strconv.Atoi(f[2]); err != nil {
		return Session{}, fmt.Errorf("windows: %w", err)
	}
	if out.Attached, err = strconv.Atoi(f[3]); err != nil {
		return Session{}, fmt.Errorf("attached: %w", err)
	}
	if out.Created, err = unixTime(f[4]); err != nil {
		return Session{}, fmt.Errorf("created: %w", err)
	}
	if out.Activity, err = unixTime(f[5]); err != nil {
		return Session{}, fmt.Errorf("activity: %w", err)
	}
	return out, nil
}

func parsePane(s string) (session string, p Pane, err error) {
	f := strings.SplitN(s, sep, 9)
	if len(f) != 9 {
		return "", Pane{}, fmt.Errorf("%d fields, want 9", len(f))
	}
	session, p.WindowName, p.Command = f[0], f[2], f[8]
	if p.Window, err = strconv.Atoi(f[1]); err != nil {
		return "", Pane{}, fmt.Errorf("window_index: %w", err)
	}
	if p.Index, err = strconv.Atoi(f[3]); err != nil {
		return "", Pane{}, fmt.Errorf("pane_index: %w", err)
	}
	p.windowActive = f[5] == "1"
	p.Active = f[4] == "1" && p.windowActive
	p.Dead = f[6] == "1"
	if f[7] != "" { // empty for a dead pane on some versions
		if p.PID, err = strconv.Atoi(f[7]); err != nil {
			return "", Pane{}, fmt.Errorf("pane_pid: %w", err)
		}
	}
	return session, p, nil
}

// unixTime reads tmux's seconds since the epoch; "" or 0 is the zero time.
func unixTime(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}

// noServer reports whether a failed tmux invocation means that no server
// is running on the socket: that is zero sessions, not a failure.
func noServer(stderr string) bool {
	return strings.Contains(stderr, "no server running") ||
		strings.Contains(stderr, "server exited unexpectedly") ||
		strings.Contains(stderr, "error connecting to") &&
			(strings.Contains(stderr, "No such file or directory") || strings.Contains(stderr, "Connection refused"))
}
