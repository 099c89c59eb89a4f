package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// maxResult bounds a describe or collect answer, as for WASM probes.
const maxResult = 16 << 20

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  sdk.ABIVersion,
	MagicCookieKey:   sdk.PluginCookieKey,
	MagicCookieValue: sdk.PluginCookieValue,
}

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

// invoke calls a method of the plugin's Probe service.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, in []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	err := conn.Invoke(ctx, "/"+sdk.PluginProbeService+"/"+method, wrapperspb.Bytes(in), out,
		grpc.MaxCallRecvMsgSize(maxResult))
	if err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}

// hostCaller serves a plugin's host calls: *hostfuncs.Caller.
type hostCaller interface {
	Call(ctx context.Context, fn string, req []byte) ([]byte, error)
	Log(level sdk.Level, msg string)
}

// newHostServer returns the gRPC server of sdk.PluginHostService, which the
// agent serves to one plugin process over go-plugin's broker. Each function
// of the WASM host module is a method with the same JSON in and out.
func newHostServer(c hostCaller) func([]grpc.ServerOption) *grpc.Server {
	call := func(fn string) func(ctx context.Context, in []byte) ([]byte, error) {
		return func(ctx context.Context, in []byte) ([]byte, error) {
			return c.Call(ctx, fn, in)
		}
	}
	logFn := func(_ context.Context, in []byte) ([]byte, error) {
		var req sdk.PluginLogRequest
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decode log request: %v", err)
		}
		c.Log(req.Level, req.Message)
		return nil, nil
	}
	desc := &grpc.ServiceDesc{
		ServiceName: sdk.PluginHostService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			sdk.PluginMethod(sdk.PluginHostService, sdk.FuncExec, call(sdk.FuncExec)),
			sdk.PluginMethod(sdk.PluginHostService, sdk.FuncHTTP, call(sdk.FuncHTTP)),
			sdk.PluginMethod(sdk.PluginHostService, sdk.FuncDBus, call(sdk.FuncDBus)),
			sdk.PluginMethod(sdk.PluginHostService, sdk.FuncReadFile, call(sdk.FuncReadFile)),
			sdk.PluginMethod(sdk.PluginHostService, sdk.FuncLog, logFn),
		},
		Metadata: "docs/PLUGINS.md",
	}
	return func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxResult))...)
		s.RegisterService(desc, c)
		return s
	}
}

// parseDescription reads the Describe answer: {"probes": [Info, ...]}.
func parseDescription(b []byte) ([]sdk.Info, error) {
	var d struct {
		Probes []sdk.Info `json:"probes"`
		Error  string     `json:"error"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("describe returned %s, not JSON: %w", quoteStart(b), err)
	}
	if d.Error != "" {
		return nil, fmt.Errorf("describe: %s", d.Error)
	}
	if len(d.Probes) == 0 {
		return nil, errors.New("describe lists no probe (does the plugin call sdk.Register?)")
	}
	for i, p := range d.Probes {
		if p.Name == "" {
			return nil, fmt.Errorf("describe: probes[%d] has no name", i)
		}
	}
	return d.Probes, nil
}

// decodeReport reads a Collect answer: a report, or {"error": ...} when the
// probe could not run.
func decodeReport(b []byte) (sdk.Report, error) {
	var r struct {
		sdk.Report
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return sdk.Report{}, fmt.Errorf("collect returned %s, not a report: %w", quoteStart(b), err)
	}
	if r.Error != "" {
		return sdk.Report{}, errors.New(r.Error)
	}
	rep := r.Report
	if err := rep.Validate(); err != nil {
		return sdk.Report{}, err
	}
	if rep.Metrics == nil {
		rep.Metrics = []sdk.Metric{}
	}
	if rep.Entities == nil {
		rep.Entities = []sdk.Entity{}
	}
	return rep, nil
}

func quoteStart(b []byte) string {
	const n = 64
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
