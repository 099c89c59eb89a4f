package hostfuncs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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
// argv must be granted: argv[0] a program of the probe's exec grants and
// argv[1:] the arguments that grant allows (Grants.Exec). The program runs
// with argv directly, never through a shell, in "/", with stdin empty and
// a small environment (execEnv, PATH without relative folders). Its whole
// process tree, whatever left its process group or session, is killed when
// it exits, at timeout_ms, or at the run's deadline, whichever is first
// (internal/proctree: a cgroup per run, or a subreaper). stdout and stderr
// keep their first 1 MiB each (truncated is then true), held within the
// call's budget; bytes that are not UTF-8 become U+FFFD. A non-zero exit is
// a result, not an error.
var execFunc = jsonFunc(abi.FuncExec, (*Caller).exec)

func (c *Caller) exec(ctx context.Context, req sdk.ExecRequest, b *callBudget) ([]byte, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("exec: argv is empty")
	}
	name := quote(req.Argv[0])
	path, program, args := c.policy.execPath(req.Argv)
	switch {
	case !program:
		return nil, c.deny(ctx, abi.FuncExec, "exec of "+name)
	case !args:
		return nil, c.deny(ctx, abi.FuncExec, fmt.Sprintf("exec of %s with arguments %s", name, quoteArgs(req.Argv[1:])))
	case path == "":
		return nil, fmt.Errorf("exec: %s is granted but not found in PATH", name)
	}
	budget := timeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond, defaultExecTimeout)
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("exec: %w", err)
	}
	var stdout, stderr captured
	var readers sync.WaitGroup
	readers.Go(func() { stdout.read(outR, b) })
	readers.Go(func() { stderr.read(errR, b) })
	defer func() { b.giveWork(stdout.held + stderr.held) }()

	cmd := exec.Command(path, req.Argv[1:]...)
	cmd.Args[0] = req.Argv[0]
	cmd.Dir = "/"
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = outW, errW
	res, err := c.host.runner().Run(ctx, cmd)
	outW.Close()
	errW.Close()
	// The tree is dead, so the pipes' writers are gone and the readers end
	// at EOF; closing the read ends bounds the wait all the same.
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		outR.Close()
		errR.Close()
		<-done
	}
	outR.Close()
	errR.Close()

	if ctx.Err() != nil {
		return nil, fmt.Errorf("timeout: exec of %s after %s", name, budget.Round(time.Millisecond))
	}
	if err != nil {
		return nil, fmt.Errorf("exec of %s: %w", name, err)
	}
	if stdout.err != nil || stderr.err != nil {
		return nil, fmt.Errorf("exec of %s: output: %w", name, errors.Join(stdout.err, stderr.err))
	}
	return b.encode("the output of exec of "+name, func(w *jsonOut) {
		w.raw(`{"exit_code":`)
		w.int(int64(res.ExitCode))
		w.raw(`,"stdout":`)
		w.str(bytesString(stdout.data))
		w.raw(`,"stderr":`)
		w.str(bytesString(stderr.data))
		if stdout.truncated || stderr.truncated {
			w.raw(`,"truncated":true`)
		}
		w.raw("}")
	})
}

// captured is what a program wrote to one stream: its first maxExecOutput
// bytes, held within the call's budget.
type captured struct {
	data      []byte
	held      int64 // bytes charged to the budget's work
	truncated bool
	err       error
}

// read reads r to its end: the first maxExecOutput bytes are kept, the
// rest is drained so the program is never blocked on a full pipe.
func (o *captured) read(r io.Reader, b *callBudget) {
	o.data, o.held, o.err = readWithin(r, maxExecOutput+1, 0, b)
	if len(o.data) > maxExecOutput {
		o.data, o.truncated = o.data[:maxExecOutput], true
	}
	io.Copy(io.Discard, r)
}

// quoteArgs shows arguments in a message, cut to maxQuoted bytes.
func quoteArgs(args []string) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, a := range args {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Quote(a))
		if sb.Len() > maxQuoted {
			return sb.String()[:maxQuoted] + "...]"
		}
	}
	sb.WriteByte(']')
	return sb.String()
}

func environ() []string {
	var env []string
	for _, k := range execEnv {
		if v, ok := os.LookupEnv(k); ok {
			if k == "PATH" {
				v = absolutePath(v)
			}
			env = append(env, k+"="+v)
		}
	}
	return env
}
