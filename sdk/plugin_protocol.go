//go:build !wasip1

package sdk

// The native plugin protocol, version ABIVersion, shared by Serve (the plugin
// side, in this package) and the agent (core/pluginhost). docs/PLUGINS.md
// describes it for authors of plugins in other languages.
//
// A plugin is a hashicorp/go-plugin server speaking gRPC. The handshake
// carries ABIVersion as go-plugin's protocol version and a magic cookie in
// the environment. The services are written by hand rather than generated
// (no protoc in the build): every message is a google.protobuf.BytesValue
// holding the same JSON documents as the WASM ABI (docs/ABI.md).
//
//	service barbossa.plugin.v1.Probe {            // served by the plugin
//	  rpc Describe(BytesValue) returns (BytesValue); // PluginDescribeRequest -> Description
//	  rpc Collect(BytesValue) returns (BytesValue);  // CollectRequest -> Report | ErrorResponse
//	}
//	service barbossa.plugin.v1.Host {             // served by the agent over go-plugin's GRPCBroker
//	  rpc exec(BytesValue) returns (BytesValue);     // as the WASM host functions,
//	  rpc http(BytesValue) returns (BytesValue);     // checked against the probe's grants
//	  rpc dbus(BytesValue) returns (BytesValue);
//	  rpc read_file(BytesValue) returns (BytesValue);
//	  rpc log(BytesValue) returns (BytesValue);      // PluginLogRequest -> empty
//	}
const (
	// PluginCookieKey and PluginCookieValue are go-plugin's magic cookie:
	// the agent sets the variable, and a plugin started any other way
	// says what it is instead of serving.
	PluginCookieKey   = "BARBOSSA_PLUGIN"
	PluginCookieValue = "barbossa-probe-6b1d4c0e"

	// PluginName is the name of the one plugin in go-plugin's PluginSet.
	PluginName = "probe"

	// PluginProbeService is the gRPC service a plugin serves.
	PluginProbeService = "barbossa.plugin.v1.Probe"
	// PluginHostService is the gRPC service the agent serves to a plugin.
	PluginHostService = "barbossa.plugin.v1.Host"

	PluginMethodDescribe = "Describe"
	PluginMethodCollect  = "Collect"
)

// PluginDescribeRequest is the first call the agent makes to a started plugin.
type PluginDescribeRequest struct {
	// HostBroker is the go-plugin broker ID on which the agent serves
	// PluginHostService for this plugin process; 0 means no host functions.
	HostBroker uint32 `json:"host_broker,omitempty"`
}

// PluginLogRequest is the body of the Host service's log call.
type PluginLogRequest struct {
	Level   Level  `json:"level"`
	Message string `json:"message"`
}
