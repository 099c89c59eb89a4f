//go:build !wasip1

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// grpcPlugin is the plugin side of go-plugin's PluginSet: it serves
// PluginProbeService. The agent's side lives in core/pluginhost.
type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

var _ plugin.GRPCPlugin = grpcPlugin{}

func (grpcPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	ps := &probeServer{broker: b}
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: PluginProbeService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			PluginMethod(PluginProbeService, PluginMethodDescribe, ps.describe),
			PluginMethod(PluginProbeService, PluginMethodCollect, ps.collect),
		},
		Metadata: "docs/PLUGINS.md",
	}, ps)
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
	var req PluginDescribeRequest
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
	out := new(wrapperspb.BytesValue)
	if err := t.conn.Invoke(ctx, "/"+PluginHostService+"/"+fn, wrapperspb.Bytes(req), out); err != nil {
		return nil, fmt.Errorf("call the agent: %w", err)
	}
	return out.Value, nil
}

// logTimeout bounds a log call, which has no deadline of its own.
const logTimeout = 2 * time.Second

func (t *pluginTransport) Log(level Level, msg string) {
	b, err := json.Marshal(PluginLogRequest{Level: level, Message: msg})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		defer cancel()
		err = t.conn.Invoke(ctx, "/"+PluginHostService+"/"+FuncLog, wrapperspb.Bytes(b), new(wrapperspb.BytesValue))
	}
	if err != nil {
		// stderr still reaches the agent's log, through go-plugin.
		noHost{}.Log(level, msg)
	}
}

// PluginMethod is what protoc-gen-go-grpc would generate for
// rpc name(BytesValue) returns (BytesValue), calling f with the bytes. Both
// ends of the plugin protocol build their services from it.
func PluginMethod(service, name string, f func(ctx context.Context, in []byte) ([]byte, error)) grpc.MethodDesc {
	full := "/" + service + "/" + name
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				out, err := f(ctx, req.(*wrapperspb.BytesValue).GetValue())
				if err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(out), nil
			}
			if icpt == nil {
				return call(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, call)
		},
	}
}
