package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// process is one running plugin process.
type process struct {
	client *plugin.Client
	cmd    *exec.Cmd
	conn   *grpc.ClientConn // to the plugin's Probe service
	pid    int
	probes []sdk.Info
	// exited is closed once the process has exited and been reaped.
	exited <-chan struct{}
	// stopping is set when the agent ends the process, so its exit is
	// expected and not logged as a crash.
	stopping atomic.Bool
}

// live holds every started process until it is stopped, for KillAll. (Not
// go-plugin's managed clients: its global list is never pruned, so an agent
// restarting a crashing plugin for weeks would grow it without bound.)
var live = struct {
	sync.Mutex
	procs map[*process]struct{}
}{procs: map[*process]struct{}{}}

// KillAll kills every plugin process this agent started and has not yet
// stopped, as go-plugin's CleanupClients does. Closing each Probe is the
// normal way; this is for an exit path that cannot.
func KillAll() {
	live.Lock()
	procs := make([]*process, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.kill()
		}()
	}
	wg.Wait()
}

// exitStatus describes how the process ended ("exit status 2", "signal:
// killed"); it must be called after exited is closed.
func (p *process) exitStatus() string {
	if p.cmd.ProcessState == nil {
		return "exited"
	}
	return p.cmd.ProcessState.String()
}

// kill ends the process and its group at once with SIGKILL, and returns once
// it is reaped and go-plugin's goroutines are done.
func (p *process) kill() {
	p.stopping.Store(true)
	killGroup(p.pid)
	p.client.Kill() // the process is dead: this only cleans up
	p.forget()
}

// stop asks the plugin to exit (go-plugin's Shutdown call, then SIGKILL
// after 2 seconds), then kills what is left of its process group.
func (p *process) stop() {
	p.stopping.Store(true)
	p.client.Kill()
	killGroup(p.pid)
	p.forget()
}

func (p *process) forget() {
	live.Lock()
	delete(live.procs, p)
	live.Unlock()
}

// start starts the plugin binary, connects to it, serves it the host
// functions and asks it what it carries. ctx bounds the whole start.
func (pr *Probe) start(ctx context.Context) (*process, error) {
	timeout := timeLeft(ctx, pr.startTimeout)
	if timeout <= 0 {
		return nil, pr.errorf("no time left to start the plugin: %w", context.DeadlineExceeded)
	}
	cmd := exec.Command(pr.opts.Path)
	prepare(cmd)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  abi.Handshake,
		Plugins:          plugin.PluginSet{abi.PluginName: grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     timeout,
		// Raw stderr: before the handshake, and what bypasses os.Stderr
		// (a Go panic). After the handshake os.Stdout and os.Stderr come
		// through gRPC to SyncStdout and SyncStderr.
		Stderr:     pr.out.stream("stderr"),
		SyncStdout: pr.out.stream("stdout"),
		SyncStderr: pr.out.stream("stderr"),
		Logger:     pr.hclog,
	}
	if pr.sum != nil {
		// go-plugin hashes the file right before running it; New (and the
		// error path below) hash it too, for a message with both sums.
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: pr.sum, Hash: sha256.New()}
	}
	pr.out.forget()
	client := plugin.NewClient(cfg)
	proc := &process{client: client, cmd: cmd}
	began := time.Now()

	rpc, err := client.Client()
	if cmd.Process != nil {
		proc.pid = cmd.Process.Pid
		live.Lock()
		live.procs[proc] = struct{}{}
		live.Unlock()
	}
	if err != nil {
		proc.kill()
		return nil, pr.startError(err)
	}
	raw, err := rpc.Dispense(abi.PluginName)
	if err != nil {
		proc.kill()
		return nil, pr.errorf("start %s: %w", pr.opts.Path, err)
	}
	d := raw.(*dispensed)
	proc.conn, proc.exited = d.conn, d.exited.Done()

	// The host functions: a gRPC server on a broker connection, for the
	// life of the process (the broker closes it when go-plugin kills it).
	id := d.broker.NextId()
	go d.broker.AcceptAndServe(id, newHostServer(pr.caller))
	in, _ := json.Marshal(abi.DescribeRequest{HostBroker: id})
	ctx, cancel := context.WithTimeout(ctx, timeout-time.Since(began))
	defer cancel()
	out, err := invoke(ctx, d.conn, abi.MethodDescribe, in)
	if err != nil {
		proc.kill()
		return nil, pr.errorf("describe (pid %d, just started): %w%s", proc.pid, err, pr.out.lastWords())
	}
	proc.probes, err = abi.DecodeDescription[sdk.Info](out)
	if err == nil {
		_, err = pickKind(proc.probes, pr.opts.Kind)
	}
	if err != nil {
		proc.kill()
		return nil, pr.errorf("%s: %w", pr.opts.Path, err)
	}
	go pr.watch(proc)
	level := slog.LevelDebug
	if pr.failures > 0 {
		level = slog.LevelInfo // a restart is news
	}
	pr.logger.LogAttrs(context.Background(), level, "plugin started",
		slog.Int("pid", proc.pid), slog.String("path", pr.opts.Path),
		slog.Duration("took", time.Since(began).Round(time.Microsecond)))
	return proc, nil
}

// watch logs a process that exits without being asked to, when it happens;
// the next run restarts it.
func (pr *Probe) watch(proc *process) {
	<-proc.exited
	if proc.stopping.Load() {
		return
	}
	attrs := []slog.Attr{slog.Int("pid", proc.pid), slog.String("status", proc.exitStatus())}
	if w := pr.out.lastWords(); w != "" {
		attrs = append(attrs, slog.String("last_words", strings.TrimPrefix(w, ": ")))
	}
	pr.logger.LogAttrs(context.Background(), slog.LevelWarn, "plugin process exited", attrs...)
}

// startError explains a failed start: a checksum mismatch with both sums, a
// handshake broken by stray stdout with the line, otherwise go-plugin's
// error with the plugin's last words on stderr.
func (pr *Probe) startError(err error) error {
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		if cerr := checkSum(pr.opts.Name, pr.opts.Path, pr.sum); cerr != nil {
			return cerr
		}
		return &ChecksumError{Probe: pr.opts.Name, Path: pr.opts.Path, Want: fmt.Sprintf("%x", pr.sum), Got: "(changed while starting)"}
	}
	msg := err.Error()
	if line, ok := strings.CutPrefix(msg, "Unrecognized remote plugin message: "); ok {
		line, _, _ = strings.Cut(line, "\n")
		if line == "" { // stdout closed: the process is gone
			return pr.errorf("start %s: the plugin exited before its handshake%s", pr.opts.Path, pr.out.lastWords())
		}
		return pr.errorf("start %s: the plugin wrote %q to stdout before its handshake: a plugin must not print to stdout before sdk.Serve (write to stderr, or use sdk.Log)", pr.opts.Path, line)
	}
	first, _, _ := strings.Cut(msg, "\n")
	if strings.HasPrefix(first, "incompatible API version") {
		return pr.errorf("start %s: %s: the plugin was built for another protocol (ABI) version than this agent's %d; rebuild it with this agent's sdk",
			pr.opts.Path, strings.TrimSuffix(first, "."), abi.Version)
	}
	return pr.errorf("start %s: %s%s", pr.opts.Path, first, pr.out.lastWords())
}

// newHCLog makes the go-plugin client's logger: JSON into hclogBridge, and
// off unless the agent logs at debug level (it costs a parse per line).
func newHCLog(logger *slog.Logger) hclog.Logger {
	level := hclog.Off
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       hclogName,
		Level:      level,
		Output:     hclogBridge{logger},
		JSONFormat: true,
	})
}

// timeLeft is how long ctx has before its deadline, or d without one.
func timeLeft(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return min(d, time.Until(dl))
	}
	return d
}
