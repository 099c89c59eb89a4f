package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Actor starts, stops and restarts units and containers on the host. The
// portal only calls it for a request that carried the token and that the
// grants allow; core/agent implements it.
type Actor interface {
	Act(ctx context.Context, a Action) (ActionResult, error)
}

// ErrNoTarget is what an Actor returns (wrapped) when the unit or container
// does not exist; the portal answers 404.
var ErrNoTarget = errors.New("no such target")

// Actions configures POST /api/v1/actions, from [portal.actions]. With no
// Actor, or no pattern matching a target, nothing is allowed.
type Actions struct {
	Units      []string // glob patterns (path.Match) of unit names
	Containers []string // glob patterns of container names
	Actor      Actor
}

// Action is one request: start, stop or restart a unit or a container.
type Action struct {
	Kind   string `json:"kind"`   // unit | container
	Target string `json:"target"` // "nginx.service", "web-1"
	Action string `json:"action"` // start | stop | restart
	// Remote is who asked: the request's remote address, for the audit.
	Remote string `json:"-"`
}

// ActionResult is what an Actor did.
type ActionResult struct {
	// Result is systemd's job result (done, failed, timeout, canceled,
	// dependency, skipped) or, for a container, done.
	Result string `json:"result"`
	// Message says more: "already stopped", the job's path.
	Message string `json:"message,omitempty"`
}

// actionResponse is the body of every POST /api/v1/actions answer.
type actionResponse struct {
	Kind       string  `json:"kind,omitempty"`
	Target     string  `json:"target,omitempty"`
	Action     string  `json:"action,omitempty"`
	Result     string  `json:"result,omitempty"`
	Message    string  `json:"message,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
}

const (
	// maxActionBody bounds a request body; an action is a few words.
	maxActionBody = 4 << 10
	// maxActionTime bounds a request whose Actor sets no timeout itself.
	maxActionTime = 10 * time.Minute
)

var (
	unitName      = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,240}\.(service|socket|target|timer|mount|automount|swap|path|slice|scope)$`)
	containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)
	actionVerbs   = []string{"start", "stop", "restart"}
)

// handleAction serves POST /api/v1/actions. The token middleware has
// already refused requests without the right token when one is set; an
// agent with no token refuses every action, since anyone who can reach
// the port could otherwise stop its services.
func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	if !methodIs(w, r, http.MethodPost) {
		return
	}
	deny := func(status int, a Action, why string) {
		s.log.Warn("action refused", "remote", r.RemoteAddr, "kind", a.Kind, "target", a.Target, "action", a.Action, "status", status, "reason", why)
		writeJSON(w, r, status, actionResponse{Kind: a.Kind, Target: a.Target, Action: a.Action, Error: why})
	}
	if s.cfg.Token == "" {
		deny(http.StatusForbidden, Action{}, "actions need a token: set [portal] token (or token_file) and send it as Authorization: Bearer <token>")
		return
	}
	a, err := decodeAction(http.MaxBytesReader(w, r.Body, maxActionBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		deny(http.StatusRequestEntityTooLarge, a, fmt.Sprintf("body: over %d bytes: an action is one small JSON object", maxActionBody))
		return
	}
	if err != nil {
		deny(http.StatusBadRequest, a, fmt.Sprintf("body: want one {\"kind\": \"unit\"|\"container\", \"target\": NAME, \"action\": \"start\"|\"stop\"|\"restart\"}: %v", err))
		return
	}
	a.Remote = r.RemoteAddr
	if err := a.valid(); err != nil {
		deny(http.StatusBadRequest, a, err.Error())
		return
	}
	if why := s.cfg.Actions.denies(a); why != "" {
		deny(http.StatusForbidden, a, why)
		return
	}
	// The action goes on if the client hangs up: a half-done restart
	// helps nobody, and the audit must record how it ended.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), maxActionTime)
	defer cancel()
	start := time.Now()
	res, err := s.cfg.Actions.Actor.Act(ctx, a)
	took := time.Since(start)
	out := actionResponse{
		Kind: a.Kind, Target: a.Target, Action: a.Action,
		Result: res.Result, Message: res.Message,
		DurationMS: float64(took.Microseconds()) / 1000,
	}
	status := http.StatusOK
	switch {
	case errors.Is(err, ErrNoTarget):
		status = http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case err != nil:
		status = http.StatusBadGateway
	}
	if err != nil {
		out.Error = err.Error()
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "action", "remote", a.Remote, "kind", a.Kind, "target", a.Target, "action", a.Action,
		"result", res.Result, "status", status, "duration", took.Round(time.Millisecond), "err", err)
	writeJSON(w, r, status, out)
}

// decodeAction reads a body holding exactly one action object.
func decodeAction(body io.Reader) (Action, error) {
	var a Action
	err := decodeOne(body, &a)
	return a, err
}

// decodeOne reads a body holding exactly one JSON object into v: unknown
// fields, a second value or anything but white space after it are errors,
// so that what a proxy or a log saw is what is done.
func decodeOne(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var more json.RawMessage
	switch err := dec.Decode(&more); {
	case err == io.EOF:
		return nil
	case err == nil:
		return fmt.Errorf("a second JSON value follows the object (%.40s)", more)
	default:
		return fmt.Errorf("after the object: %w", err)
	}
}

// valid checks the shape of a request before any grant is looked at.
func (a Action) valid() error {
	if !contains(actionVerbs, a.Action) {
		return fmt.Errorf("action: %q is not one of start, stop, restart", a.Action)
	}
	switch a.Kind {
	case "unit":
		if !unitName.MatchString(a.Target) {
			return fmt.Errorf("target: %q is not a unit name with its type (\"nginx.service\")", a.Target)
		}
	case "container":
		if !containerName.MatchString(a.Target) {
			return fmt.Errorf("target: %q is not a container name", a.Target)
		}
	default:
		return fmt.Errorf("kind: %q is not one of unit, container", a.Kind)
	}
	return nil
}

// denies says why the grants refuse a, or "" when they allow it.
func (g Actions) denies(a Action) string {
	patterns, key := g.Units, "units"
	if a.Kind == "container" {
		patterns, key = g.Containers, "containers"
	}
	if g.Actor == nil {
		return "actions are not available in this agent"
	}
	if len(patterns) == 0 {
		return fmt.Sprintf("no %s are granted: list name patterns in [portal.actions] %s", a.Kind+"s", key)
	}
	if sdk.MatchGlob(patterns, a.Target) {
		return ""
	}
	return fmt.Sprintf("%s %q is not granted by [portal.actions] %s = [%s]", a.Kind, a.Target, key, quoteList(patterns))
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// methodIs answers 405, naming the method to use, unless r uses method: for
// the routes that change something, which take one method only.
func methodIs(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: use %s", r.Method, method), "")
	return false
}
