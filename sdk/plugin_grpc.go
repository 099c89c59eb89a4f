//go:build !wasip1

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcPlugin is the plugin side of go-plugin's PluginSet: it serves
// abi.ProbeService (docs/plugin.proto). The agent's side lives in
// core/pluginhost.
type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

var _ plugin.GRPCPlugin = grpcPlugin{}

func (grpcPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	ps := &probeServer{broker: b}
	s.RegisterService(abi.ProbeServiceDesc(ps.describe, ps.collect), ps)
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side has no client; the agent's is core/pluginhost")
}

// probeServer answers the agent's calls with the registered probes.
type probeServer struct {
	broker *plugin.GRPCBroker

	mu     sync.Mutex
	hostID uint32 // broker ID of the agent's Host service, once connected
}

func (s *probeServer) describe(_ context.Context, in []byte) ([]byte, error) {
	var req abi.DescribeRequest
	if len(in) > 0 {
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decode describe request: %v", err)
		}
	}
	if req.HostBroker != 0 {
		if err := s.connectHost(req.HostBroker); err != nil {
			return nil, status.Errorf(codes.Unavailable, "connect to the agent's host functions (broker id %d): %v", req.HostBroker, err)
		}
	}
	return describe(), nil
}

// collect runs the probe; its own failure is an {"error"} document, so a
// gRPC error always means the transport broke.
func (s *probeServer) collect(_ context.Context, in []byte) ([]byte, error) {
	return collect(in), nil
}

// connectHost dials the agent's Host service and makes it the transport of
// sdk.Exec, sdk.HTTP, sdk.DBus, sdk.ReadFile and sdk.Log. go-plugin's broker
// drops connection info it was not asked for within 5 seconds, so this
// happens at once, in Describe, not at the first host call.
func (s *probeServer) connectHost(id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hostID == id {
		return nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return err
	}
	prev := SetTransport(&pluginTransport{conn: conn})
	if pt, ok := prev.(*pluginTransport); ok {
		pt.conn.Close()
	}
	s.hostID = id
	return nil
}

// pluginTransport sends host calls to the agent over gRPC. The context's
// deadline travels with each call, so the agent bounds its work by it.
type pluginTransport struct{ conn *grpc.ClientConn }

func (t *pluginTransport) Call(ctx context.Context, fn string, req []byte) ([]byte, error) {
	out, err := abi.Invoke(ctx, t.conn, abi.HostService, fn, req)
	if err != nil {
		return nil, fmt.Errorf("call the agent: %w", err)
	}
	return out, nil
}

// logTimeout bounds a log call, which has no deadline of its own.
const logTimeout = 2 * time.Second

func (t *pluginTransport) Log(level Level, msg string) {
	b, err := json.Marshal(abi.LogRequest{Level: int32(level), Message: msg})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		defer cancel()
		_, err = abi.Invoke(ctx, t.conn, abi.HostService, abi.FuncLog, b)
	}
	if err != nil {
		// stderr still reaches the agent's log, through go-plugin.
		noHost{}.Log(level, msg)
	}
}
