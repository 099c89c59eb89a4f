package hostfuncs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/barbossa-agent/barbossa/hostfuncs/internal/proctree"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/godbus/dbus/v5"
)

// Host holds what the host functions share between probes: D-Bus
// connections and HTTP transports. One per agent.
type Host struct {
	logger *slog.Logger

	mu      sync.Mutex
	buses   map[busKey]*dbus.Conn      // by probe, and bus name or address
	sockets map[string]*http.Transport // by unix socket path
	tcp     *http.Transport

	// procs runs exec's programs; nil: proctree.Default(), found out at
	// the first exec. Tests set it to pick a mode.
	procs *proctree.Runner
	// told is done once the mode of exec's containment is logged.
	told sync.Once
}

// runner returns the proctree.Runner of exec. The first time, it logs the
// mode found: a subreaper costs a few ms more a command than a cgroup,
// and what the unit needs for the cgroup mode (docs/DEPLOY.md).
func (h *Host) runner() *proctree.Runner {
	r := h.procs
	if r == nil {
		r = proctree.Default()
	}
	h.told.Do(func() {
		if r.Mode() == "cgroup" {
			h.logger.Info("exec: each command runs in a cgroup of its own, killed whole at its end", "mode", r.Mode())
		} else {
			h.logger.Info("exec: commands run under a subreaper (no cgroup v2 the agent may write to: as a systemd unit it needs Delegate=yes), killed whole at their end", "mode", r.Mode())
		}
	})
	return r
}

// New returns a Host logging to logger (slog.Default() when nil).
func New(logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.Default()
	}
	return &Host{
		logger:  logger,
		buses:   map[busKey]*dbus.Conn{},
		sockets: map[string]*http.Transport{},
		tcp:     newTCPTransport(),
	}
}

// Close closes the D-Bus connections and idle HTTP connections.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for k, c := range h.buses {
		errs = append(errs, c.Close())
		delete(h.buses, k)
	}
	for _, t := range h.sockets {
		t.CloseIdleConnections()
	}
	h.tcp.CloseIdleConnections()
	return errors.Join(errs...)
}

// hostFunc is one JSON-in, JSON-out host function. call returns the
// encoded answer, built within the call's budget.
type hostFunc struct {
	name string
	call func(ctx context.Context, c *Caller, req []byte, b *callBudget) ([]byte, error)
}

// jsonFunc adapts a typed handler to a hostFunc.
func jsonFunc[Req any](name string, f func(c *Caller, ctx context.Context, req Req, b *callBudget) ([]byte, error)) hostFunc {
	return hostFunc{name: name, call: func(ctx context.Context, c *Caller, in []byte, b *callBudget) ([]byte, error) {
		var req Req
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, fmt.Errorf("bad request: %w", err)
		}
		return f(c, ctx, req, b)
	}}
}

// hostFuncs implements every one of abi.HostCalls.
var hostFuncs = map[string]hostFunc{
	abi.FuncExec:     execFunc,
	abi.FuncHTTP:     httpFunc,
	abi.FuncDBus:     dbusFunc,
	abi.FuncReadFile: readFileFunc,
	abi.FuncStat:     statFunc,
}

// maxError bounds an error message in bytes: errors are not charged to a
// call's budget, so none may be large (a batch holds at most maxBatch).
const maxError = 1 << 10

func errorJSON(err error) []byte {
	msg := err.Error()
	if len(msg) > maxError {
		msg = strings.ToValidUTF8(msg[:maxError], "") + "..."
	}
	return abi.EncodeError(errors.New(msg))
}

// maxQuoted bounds what an error or a log record quotes of a guest's
// string (a path, a program, a URL).
const maxQuoted = 200

// cut is s cut to maxQuoted bytes, for a message.
func cut(s string) string {
	if len(s) > maxQuoted {
		return strings.ToValidUTF8(s[:maxQuoted], "") + "..."
	}
	return s
}

// quote is %q of s, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(strings.ToValidUTF8(s[:maxQuoted], "")) + "..."
	}
	return strconv.Quote(s)
}
