package pluginhost

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/internal/abi/abitest"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// answerEnv makes this test binary, started as a plugin, answer every
// Collect with the variable's value.
const answerEnv = "PLUGINHOST_ANSWER"

// serveAnswer is a native plugin written from docs/plugin.proto rather than
// with sdk, so it can answer any bytes at all, as a hostile or buggy plugin
// in another language could.
func serveAnswer(report string) {
	// This binary links sdk, which sends os.Stdout to stderr until its own
	// Serve; go-plugin writes its handshake line to os.Stdout.
	os.Stdout = os.NewFile(1, "stdout")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: abi.Handshake,
		Plugins:         plugin.PluginSet{abi.PluginName: answerPlugin{report: []byte(report)}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

type answerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	report []byte
}

func (p answerPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	describe := func(context.Context, []byte) ([]byte, error) { return []byte(`{"probes":[{"name":"answering"}]}`), nil }
	collect := func(context.Context, []byte) ([]byte, error) { return p.report, nil }
	s.RegisterService(abi.ProbeServiceDesc(describe, collect), p)
	return nil
}

func (answerPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("a plugin has no client")
}

// TestBadReportsRefused sends abitest's hostile reports from a native
// plugin (this test binary, re-run): each is refused with abi's error, the
// same one core/wasmhost's test gets from a WAT guest sending the same
// bytes; and the process, which answered, is kept.
func TestBadReportsRefused(t *testing.T) {
	abitest.Refuses(t, `plugin probe "hostile": collect: `, func(t *testing.T, report string) error {
		t.Setenv(answerEnv, report)
		pr, _ := newProbe(t, Options{Name: "hostile", Path: os.Args[0]})
		_, err := collect(t, pr, 20*time.Second, nil)
		if pid := pr.PID(); pid == 0 {
			t.Errorf("the process was not kept after its answer (%v)", err)
		}
		return err
	})
}

// TestReportDepth: a native plugin's report nested past the probe's
// max_depth is refused, naming the limit, at a lowered and a raised
// max_depth; and SetMaxDepth applies from the next run, to the same
// process.
func TestReportDepth(t *testing.T) {
	abitest.LimitsDepth(t, `plugin probe "hostile": collect: `, func(t *testing.T, maxDepth int, report string) error {
		t.Setenv(answerEnv, report)
		pr, _ := newProbe(t, Options{Name: "hostile", Path: os.Args[0], MaxDepth: maxDepth})
		_, err := collect(t, pr, 20*time.Second, nil)
		return err
	})
	t.Setenv(answerEnv, abitest.Nested(40))
	pr, _ := newProbe(t, Options{Name: "hostile", Path: os.Args[0]})
	if _, err := collect(t, pr, 20*time.Second, nil); err == nil {
		t.Fatal("a report nested 44 levels passed the default max_depth")
	}
	pid := pr.PID()
	pr.SetMaxDepth(44)
	if _, err := collect(t, pr, 20*time.Second, nil); err != nil {
		t.Errorf("after SetMaxDepth(44): %v", err)
	}
	pr.SetMaxDepth(43)
	if _, err := collect(t, pr, 20*time.Second, nil); err == nil || !strings.Contains(err.Error(), "nested deeper than 43 levels") {
		t.Errorf("after SetMaxDepth(43): %v", err)
	}
	if pr.PID() != pid {
		t.Errorf("the process changed: %d, then %d", pid, pr.PID())
	}
}
