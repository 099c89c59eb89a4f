package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barbossa-agent/barbossa/hostfuncs"
	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultStartTimeout bounds a plugin's start and handshake when the run's
// deadline does not bound it sooner.
const DefaultStartTimeout = 10 * time.Second

// Options configure one plugin probe.
type Options struct {
	// Name is the probe's name: in the collect request, logs and errors.
	Name string
	// Path is the plugin binary.
	Path string
	// SHA256, when set, pins the binary: one with another sha256 (hex) is
	// refused.
	SHA256 string
	// Kind picks one probe of a binary that registers several (its
	// Info().Name); empty is the only, or first, one.
	Kind string
	// Grants are the probe's [probe.allow] table, checked for every host
	// call the plugin makes through the SDK, as for a WASM probe.
	Grants hostfuncs.Grants
	// HostFuncs serves those calls; nil: a private one, closed with the Probe.
	HostFuncs *hostfuncs.Host
	// Config is the [probe.config] table, sent when a request has none.
	Config map[string]any
	// MaxDepth bounds how deeply the probe's reports nest (its max_depth;
	// see abi.DecodeReport): a report nested deeper is refused whole. 0:
	// abi.DefaultMaxDepth. SetMaxDepth changes it while the probe runs.
	MaxDepth int
	// StartTimeout bounds start and handshake; 0: DefaultStartTimeout. The
	// run's deadline bounds it too.
	StartTimeout time.Duration
	// Logger receives the plugin's output and lifecycle events, with the
	// probe's name added. nil: slog.Default().
	Logger *slog.Logger
}

// Probe is one supervised plugin process. It implements sdk.Probe and the
// scheduler's Collector; Denied counts refused host calls; Close stops the
// process. It is safe for concurrent use: runs are serialised.
type Probe struct {
	opts         Options
	sum          []byte
	startTimeout time.Duration
	caller       *hostfuncs.Caller
	ownFuncs     *hostfuncs.Host // closed by Close when the Probe made it
	logger       *slog.Logger
	hclog        hclog.Logger
	out          *output
	depth        atomic.Int64

	sem chan struct{} // held by the run in progress, which owns the fields below it
	// failures counts consecutive failed runs that cost the process (crash,
	// hang, failed start); lastFailure is when the latest happened.
	failures    int
	lastFailure time.Time

	mu     sync.Mutex // guards the fields below; never held across calls
	proc   *process
	closed bool
	info   sdk.Info
	// starting is closed when the start in progress has ended, its process
	// kept or, after a Close, killed.
	starting chan struct{}
}

var _ sdk.Probe = (*Probe)(nil)

// errClosed is the error of a run on a closed Probe.
var errClosed = errors.New("closed")

// New checks the binary (a regular, executable file; its sha256 when pinned)
// and the grants. The process starts at the first Collect.
func New(o Options) (*Probe, error) {
	if o.Name == "" {
		return nil, errors.New("plugin probe: a name is required")
	}
	pr := &Probe{opts: o, sem: make(chan struct{}, 1)}
	fi, err := os.Stat(o.Path)
	switch {
	case err != nil:
		return nil, pr.errorf("%w", err)
	case !fi.Mode().IsRegular():
		return nil, pr.errorf("%s is not a regular file", o.Path)
	case fi.Mode().Perm()&0o111 == 0:
		return nil, pr.errorf("%s is not executable (chmod +x it)", o.Path)
	}
	if pr.sum, err = parseSum(o.SHA256); err != nil {
		return nil, pr.errorf("%w", err)
	}
	if pr.sum != nil {
		if err := checkSum(o.Name, o.Path, pr.sum); err != nil {
			return nil, err
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	funcs := o.HostFuncs
	if funcs == nil {
		funcs = hostfuncs.New(logger)
		pr.ownFuncs = funcs
	}
	if pr.caller, err = funcs.NewCaller(o.Name, o.Grants, logger); err != nil {
		if pr.ownFuncs != nil {
			pr.ownFuncs.Close()
		}
		return nil, err
	}
	pr.startTimeout = o.StartTimeout
	if pr.startTimeout <= 0 {
		pr.startTimeout = DefaultStartTimeout
	}
	pr.logger = logger.With("probe", o.Name)
	pr.hclog = newHCLog(pr.logger)
	pr.out = newOutput(pr.caller)
	pr.info = sdk.Info{Name: o.Name}
	pr.SetMaxDepth(o.MaxDepth)
	return pr, nil
}

// SetMaxDepth sets how deeply the probe's reports may nest from its next
// run on (Options.MaxDepth), as a config reload does.
func (pr *Probe) SetMaxDepth(n int) { pr.depth.Store(int64(n)) }

func (pr *Probe) errorf(format string, args ...any) error {
	return fmt.Errorf("plugin probe %q: "+format, append([]any{pr.opts.Name}, args...)...)
}

func (pr *Probe) lock()   { pr.mu.Lock() }
func (pr *Probe) unlock() { pr.mu.Unlock() }

// Info describes the probe's code, as the plugin's describe lists it, once
// it has started; before that only the name is known.
func (pr *Probe) Info() sdk.Info {
	pr.lock()
	defer pr.unlock()
	return pr.info
}

// Denied returns the number of host calls its grants refused.
func (pr *Probe) Denied() uint64 { return pr.caller.Denied() }

// PID returns the plugin's process id, or 0 when none is running.
func (pr *Probe) PID() int {
	pr.lock()
	defer pr.unlock()
	if pr.proc == nil {
		return 0
	}
	select {
	case <-pr.proc.exited:
		return 0
	default:
		return pr.proc.pid
	}
}

// Close stops the process and its process group (gracefully, then SIGKILL
// after 2s) and returns once it is reaped; later runs fail. A run in
// progress fails at once.
func (pr *Probe) Close() error {
	pr.lock()
	if pr.closed {
		pr.unlock()
		return nil
	}
	pr.closed = true
	proc, starting := pr.proc, pr.starting
	pr.proc = nil
	pr.unlock()
	if proc != nil {
		proc.stop()
	}
	if starting != nil {
		<-starting // bounded by the start's timeout; the starter kills it
	}
	err := pr.caller.Close()
	if pr.ownFuncs != nil {
		err = errors.Join(err, pr.ownFuncs.Close())
	}
	return err
}

// Describe starts the plugin if it is not running and returns the probes
// its binary carries.
func (pr *Probe) Describe(ctx context.Context) ([]sdk.Info, error) {
	if err := pr.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-pr.sem }()
	proc, err := pr.running(ctx)
	if err != nil {
		return nil, err
	}
	return append([]sdk.Info(nil), proc.probes...), nil
}

func (pr *Probe) acquire(ctx context.Context) error {
	select {
	case pr.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return pr.errorf("waiting for the previous run: %w", ctx.Err())
	}
}

// Collect runs the probe once in the plugin, starting or restarting the
// process first when needed. ctx's deadline is a hard timeout: a plugin that
// has not answered then is killed, and the error matches
// context.DeadlineExceeded. An empty req.Probe is the probe's name and a nil
// req.Config is Options.Config.
func (pr *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	if err := pr.acquire(ctx); err != nil {
		return sdk.Report{}, err
	}
	defer func() { <-pr.sem }()
	proc, err := pr.running(ctx)
	if err != nil {
		return sdk.Report{}, err
	}
	if req.Probe == "" {
		req.Probe = pr.opts.Name
	}
	if req.Config == nil {
		req.Config = pr.opts.Config
	}
	in, err := abi.EncodeCollect(ctx, abi.CollectRequest{Probe: req.Probe, Config: req.Config, Kind: pr.opts.Kind})
	if err != nil {
		return sdk.Report{}, pr.errorf("%w", err)
	}
	out, err := invoke(ctx, proc.conn, abi.MethodCollect, in)
	if err != nil {
		return sdk.Report{}, pr.failed(ctx, proc, err)
	}
	// The process answered: whatever the probe says, it is healthy.
	pr.failures = 0
	var rep sdk.Report
	if err := abi.DecodeReport(out, int(pr.depth.Load()), &rep); err != nil {
		var failed *abi.ProbeError
		if errors.As(err, &failed) {
			return sdk.Report{}, err // the probe's own error, as it wrote it
		}
		return sdk.Report{}, pr.errorf("collect: %w", err)
	}
	return rep, nil
}

// running returns the live process, starting one when there is none or the
// last one exited.
func (pr *Probe) running(ctx context.Context) (*process, error) {
	pr.lock()
	proc, closed := pr.proc, pr.closed
	pr.unlock()
	if closed {
		return nil, pr.errorf("%w", errClosed)
	}
	if proc != nil {
		select {
		case <-proc.exited: // between runs; watch logged it
			pr.discard(proc)
			pr.failed1()
		default:
			return proc, nil
		}
	}
	if wait := pr.restartWait(); wait > 0 {
		return nil, pr.errorf("not restarted yet: the plugin failed %d times in a row; next restart in %s",
			pr.failures, wait.Round(time.Millisecond))
	}
	starting := make(chan struct{})
	defer close(starting)
	pr.lock()
	if pr.closed {
		pr.unlock()
		return nil, pr.errorf("%w", errClosed)
	}
	pr.starting = starting
	pr.unlock()
	proc, err := pr.start(ctx)
	pr.lock()
	closed = pr.closed
	if err == nil && !closed {
		pr.proc = proc
		pr.info, _ = pickKind(proc.probes, pr.opts.Kind)
	}
	pr.starting = nil
	pr.unlock()
	switch {
	case err != nil:
		pr.failed1()
		return nil, err
	case closed:
		proc.kill()
		return nil, pr.errorf("%w", errClosed)
	}
	return proc, nil
}

// failed1 counts one failure that cost the process.
func (pr *Probe) failed1() {
	pr.failures++
	pr.lastFailure = time.Now()
}

// Restart backoff: after n consecutive failures, a restart waits
// restartDelay(n) from the last one. The first is restarted at once: the
// scheduler's next run is far enough.
func restartDelay(n int) time.Duration {
	if n < 2 {
		return 0
	}
	return min(time.Second<<min(n-2, 10), maxRestartDelay)
}

const maxRestartDelay = time.Minute

func (pr *Probe) restartWait() time.Duration {
	return time.Until(pr.lastFailure.Add(restartDelay(pr.failures)))
}

// discard forgets proc and kills it.
func (pr *Probe) discard(proc *process) {
	pr.lock()
	if pr.proc == proc {
		pr.proc = nil
	}
	pr.unlock()
	proc.kill()
}

// exitGrace is how long a failed call waits for the process to be seen
// exiting, to tell a crash from a broken connection.
const exitGrace = time.Second

// failed turns an error of a call to the plugin into the run's error, and
// disposes of the process unless it is certainly healthy.
func (pr *Probe) failed(ctx context.Context, proc *process, err error) error {
	pr.lock()
	closed := pr.closed
	pr.unlock()
	if closed {
		return pr.errorf("closed during the run: %w", errClosed)
	}
	code := status.Code(err)
	if code == codes.ResourceExhausted { // an answer over maxResult: the process is fine
		return pr.errorf("collect: %w", err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil || code == codes.DeadlineExceeded || code == codes.Canceled {
		if ctxErr == nil {
			ctxErr = context.DeadlineExceeded
		}
		pr.discard(proc)
		pr.failed1()
		return pr.errorf("no answer within the run's timeout: killed the plugin (pid %d); the next run restarts it: %w", proc.pid, ctxErr)
	}
	exited := false
	select {
	case <-proc.exited:
		exited = true
	case <-time.After(exitGrace):
	}
	pr.discard(proc)
	pr.failed1()
	if exited {
		return pr.errorf("the plugin (pid %d) exited during the run (%s)%s; the next run restarts it", proc.pid, proc.exitStatus(), pr.out.lastWords())
	}
	return pr.errorf("collect: %w; killed the plugin (pid %d), the next run restarts it", err, proc.pid)
}

// pickKind returns the Info of kind among probes ("" is the first).
func pickKind(probes []sdk.Info, kind string) (sdk.Info, error) {
	if kind == "" {
		return probes[0], nil
	}
	names := make([]string, len(probes))
	for i, p := range probes {
		if p.Name == kind {
			return p, nil
		}
		names[i] = p.Name
	}
	return sdk.Info{}, fmt.Errorf("the plugin has no probe of kind %q (it has %v)", kind, names)
}
