//go:build !wasip1

package abi

import (
	"context"
	"maps"
	"slices"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The native plugin protocol (docs/PLUGINS.md, docs/plugin.proto). A
// plugin is a hashicorp/go-plugin server speaking gRPC. The handshake
// carries Version as go-plugin's protocol version and a magic cookie in the
// environment. The services are written by hand rather than generated (no
// protoc in the build): every message is a google.protobuf.BytesValue
// holding the same JSON documents as the WASM ABI (docs/ABI.md).
const (
	// CookieKey and CookieValue are go-plugin's magic cookie: the agent
	// sets the variable, and a plugin started any other way says what it
	// is instead of serving.
	CookieKey   = "BARBOSSA_PLUGIN"
	CookieValue = "barbossa-probe-6b1d4c0e"

	// PluginName is the name of the one plugin in go-plugin's PluginSet.
	PluginName = "probe"

	// ProbeService is the gRPC service a plugin serves: Describe, Collect.
	ProbeService = "barbossa.plugin.v1.Probe"
	// HostService is the gRPC service the agent serves to a plugin over
	// go-plugin's GRPCBroker: one method per host function, by its name.
	HostService = "barbossa.plugin.v1.Host"

	MethodDescribe = "Describe" // DescribeRequest -> a description (DecodeDescription)
	MethodCollect  = "Collect"  // CollectRequest -> a report (DecodeReport) | ErrorResponse
)

// Handshake is go-plugin's handshake, the same on both ends.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  Version,
	MagicCookieKey:   CookieKey,
	MagicCookieValue: CookieValue,
}

// DescribeRequest is the first call the agent makes to a started plugin.
type DescribeRequest struct {
	// HostBroker is the go-plugin broker ID on which the agent serves
	// HostService for this plugin process; 0 means no host functions.
	HostBroker uint32 `json:"host_broker,omitempty"`
}

// LogRequest is the body of the Host service's log call. Level is a
// log/slog level (sdk.Level).
type LogRequest struct {
	Level   int32  `json:"level"`
	Message string `json:"message"`
}

// Handler serves one method: JSON in, JSON out. Its error is a gRPC error
// (the transport broke); a failure the peer should read is in the JSON.
type Handler func(ctx context.Context, in []byte) ([]byte, error)

// ProbeServiceDesc is ProbeService, served by a plugin.
func ProbeServiceDesc(describe, collect Handler) *grpc.ServiceDesc {
	return serviceDesc(ProbeService, map[string]Handler{MethodDescribe: describe, MethodCollect: collect})
}

// HostServiceDesc is HostService, served by the agent to one plugin: call
// answers the host functions of HostCalls, log the log function.
func HostServiceDesc(call func(ctx context.Context, fn string, in []byte) ([]byte, error), log Handler) *grpc.ServiceDesc {
	methods := map[string]Handler{FuncLog: log}
	for _, fn := range HostCalls() {
		methods[fn] = func(ctx context.Context, in []byte) ([]byte, error) { return call(ctx, fn, in) }
	}
	return serviceDesc(HostService, methods)
}

// serviceDesc is what protoc-gen-go-grpc would generate for a service whose
// methods are all rpc NAME(BytesValue) returns (BytesValue).
func serviceDesc(service string, methods map[string]Handler) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Metadata:    "docs/plugin.proto",
	}
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		desc.Methods = append(desc.Methods, method(service, name, methods[name]))
	}
	return desc
}

func method(service, name string, f Handler) grpc.MethodDesc {
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

// Invoke calls method of service over conn with a JSON document and returns
// the JSON answer.
func Invoke(ctx context.Context, conn *grpc.ClientConn, service, method string, in []byte, opts ...grpc.CallOption) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, "/"+service+"/"+method, wrapperspb.Bytes(in), out, opts...); err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}
