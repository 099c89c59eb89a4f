package pluginhost

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcPlugin is the agent's side of go-plugin's PluginSet. Dispense returns
// a *dispensed; the plugin's side is in sdk (plugin_grpc.go).
type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

var _ plugin.GRPCPlugin = grpcPlugin{}

func (grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("pluginhost: the agent serves no probe")
}

func (grpcPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &dispensed{exited: ctx, broker: b, conn: c}, nil
}

// dispensed is what go-plugin hands over for a started plugin.
type dispensed struct {
	// exited is done once the plugin process has exited (go-plugin cancels
	// it after reaping the process).
	exited context.Context
	broker *plugin.GRPCBroker
	conn   *grpc.ClientConn
}

// invoke calls a method of the plugin's Probe service. Answers are bounded
// as for WASM probes.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, in []byte) ([]byte, error) {
	return abi.Invoke(ctx, conn, abi.ProbeService, method, in, grpc.MaxCallRecvMsgSize(abi.MaxResult))
}

// hostCaller serves a plugin's host calls: *hostfuncs.Caller.
type hostCaller interface {
	Call(ctx context.Context, fn string, req []byte) ([]byte, error)
	Log(level sdk.Level, msg string)
}

// newHostServer returns the gRPC server of abi.HostService, which the
// agent serves to one plugin process over go-plugin's broker. Each function
// of the WASM host module is a method with the same JSON in and out.
func newHostServer(c hostCaller) func([]grpc.ServerOption) *grpc.Server {
	logFn := func(_ context.Context, in []byte) ([]byte, error) {
		var req abi.LogRequest
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decode log request: %v", err)
		}
		c.Log(sdk.Level(req.Level), req.Message)
		return nil, nil
	}
	desc := abi.HostServiceDesc(c.Call, logFn)
	return func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(abi.MaxResult))...)
		s.RegisterService(desc, c)
		return s
	}
}
