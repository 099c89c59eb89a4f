package hostfuncs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

const (
	maxExecOutput      = 1 << 20 // bytes kept of stdout and of stderr each
	defaultExecTimeout = 30 * time.Second
)

// execEnv are the variables of the agent's environment a program inherits;
// the rest (tokens, credentials) stay with the agent.
var execEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TMUX_TMPDIR", "XDG_RUNTIME_DIR"}

// execFunc is the host function "exec" (docs/ABI.md), JSON in and out:
//
//	request  {"argv": ["tmux", "list-sessions"], "timeout_ms": 2000}
//	response {"exit_code": 0, "stdout": "...", "stderr": "", "truncated": false}
//	       | {"error": "denied: exec of \"rm\" is not granted to probe \"x\""}
//	       | {"error": "timeout: exec of \"tmux\" after 2s"}
//
// argv[0] must be granted (a name looked up in PATH when the probe was made,
// or an absolute path); the resolved program runs with argv directly, never
// through a shell, in "/", with stdin empty and a small environment
// (execEnv). It is killed with its process group at timeout_ms or the run's
// deadline, whichever is first. stdout and stderr keep their first 1 MiB
// each (truncated is then true); bytes that are not UTF-8 become U+FFFD.
// A non-zero exit is a result, not an error.
var execFunc = jsonFunc(abi.FuncExec, (*Caller).exec)

func (c *Caller) exec(ctx context.Context, req sdk.ExecRequest) (any, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("exec: argv is empty")
	}
	path, granted := c.policy.execPath(req.Argv[0])
	if !granted {
		return nil, c.deny(ctx, abi.FuncExec, fmt.Sprintf("exec of %q", req.Argv[0]))
	}
	if path == "" {
		return nil, fmt.Errorf("exec: %q is granted but not found in PATH", req.Argv[0])
	}
	budget := timeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond, defaultExecTimeout)
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	stdout := &capped{max: maxExecOutput}
	stderr := &capped{max: maxExecOutput}
	cmd := exec.CommandContext(ctx, path, req.Argv[1:]...)
	cmd.Args[0] = req.Argv[0]
	cmd.Dir = "/"
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so a timeout kills whatever it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the pipes cannot hold us

	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("timeout: exec of %q after %s", req.Argv[0], budget.Round(time.Millisecond))
	}
	resp := sdk.ExecResponse{
		Stdout:    strings.ToValidUTF8(stdout.String(), "\uFFFD"),
		Stderr:    strings.ToValidUTF8(stderr.String(), "\uFFFD"),
		Truncated: stdout.truncated || stderr.truncated,
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		resp.ExitCode = exitErr.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("exec of %q: %w", req.Argv[0], err)
	}
	return resp, nil
}

func environ() []string {
	var env []string
	for _, k := range execEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// capped is a buffer that keeps the first max bytes written to it and
// swallows the rest, so a chatty program is neither blocked nor stored.
// (Not an embedded bytes.Buffer: its ReadFrom would bypass the cap.)
type capped struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *capped) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *capped) String() string { return b.buf.String() }
