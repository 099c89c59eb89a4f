package hostfuncs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/godbus/dbus/v5"
)

// Host holds what the host functions share between probes: D-Bus
// connections and HTTP transports. One per agent.
type Host struct {
	logger *slog.Logger

	mu      sync.Mutex
	buses   map[string]*dbus.Conn      // by bus name or address
	sockets map[string]*http.Transport // by unix socket path
	tcp     *http.Transport
}

// New returns a Host logging to logger (slog.Default() when nil).
func New(logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.Default()
	}
	return &Host{
		logger:  logger,
		buses:   map[string]*dbus.Conn{},
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

// hostFunc is one JSON-in, JSON-out host function.
type hostFunc struct {
	name string
	call func(ctx context.Context, c *Caller, req []byte) (any, error)
}

// jsonFunc adapts a typed handler to a hostFunc.
func jsonFunc[Req any](name string, f func(c *Caller, ctx context.Context, req Req) (any, error)) hostFunc {
	return hostFunc{name: name, call: func(ctx context.Context, c *Caller, in []byte) (any, error) {
		var req Req
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, fmt.Errorf("bad request: %w", err)
		}
		return f(c, ctx, req)
	}}
}

// hostFuncs implements every one of abi.HostCalls.
var hostFuncs = map[string]hostFunc{
	abi.FuncExec:     execFunc,
	abi.FuncHTTP:     httpFunc,
	abi.FuncDBus:     dbusFunc,
	abi.FuncReadFile: readFileFunc,
}

func errorJSON(err error) []byte { return abi.EncodeError(err) }
