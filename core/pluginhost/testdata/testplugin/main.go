// Command testplugin is a native plugin probe whose behaviour the tests of
// core/pluginhost choose through [probe.config]: it crashes, hangs, spawns a
// child, prints to stdout, calls host functions. Built with go build at test
// time; never committed as a binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

type config struct {
	CrashOnce string   `json:"crash_once"` // a marker file: crash (a panic) if it exists, removing it
	Exit      int      `json:"exit"`       // os.Exit with this code
	Hang      bool     `json:"hang"`       // never answer
	Spawn     bool     `json:"spawn"`      // start "sleep 600" and report its pid
	Exec      []string `json:"exec"`       // sdk.Exec and report the result
	Read      string   `json:"read"`       // sdk.ReadFile and report its size
	Log       string   `json:"log"`        // sdk.Log at warn level
	Stdout    string   `json:"stdout"`     // print this line to stdout during collect
	Fail      string   `json:"fail"`       // return this error
	Panic     bool     `json:"panic"`      // panic in Collect
	Nest      int      `json:"nest"`       // report an entity whose attr "a" is nested this many arrays deep
}

type probe struct{ calls int }

func (*probe) Info() sdk.Info { return sdk.Info{Name: "testplugin", Version: "1.0.0"} }

var child *exec.Cmd

func (p *probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	var c config
	if err := req.Decode(&c); err != nil {
		return sdk.Report{}, err
	}
	p.calls++
	var r sdk.Report
	r.Gauge("test.pid", float64(os.Getpid()), nil)
	r.Gauge("test.calls", float64(p.calls), nil)
	if _, ok := ctx.Deadline(); ok {
		r.Gauge("test.deadline", 1, nil)
	}
	if c.CrashOnce != "" {
		if err := os.Remove(c.CrashOnce); err == nil {
			// A panic outside Collect's goroutine, which sdk cannot recover:
			// the process dies with exit status 2.
			go func() {
				var m map[string]int
				m["boom"]++ // panics: assignment to entry in nil map
			}()
			select {}
		}
	}
	if c.Panic {
		panic("probe bug") // recovered by sdk: the run fails, the process lives
	}
	if c.Exit != 0 {
		os.Exit(c.Exit)
	}
	if c.Hang {
		fmt.Fprintln(os.Stderr, "testplugin: hanging") // tests wait for this line
		select {}
	}
	if c.Spawn {
		if child == nil {
			child = exec.Command("sleep", "600")
			if err := child.Start(); err != nil {
				return r, err
			}
		}
		r.Gauge("test.child_pid", float64(child.Process.Pid), nil)
	}
	if len(c.Exec) > 0 {
		out, err := sdk.Exec(ctx, sdk.ExecRequest{Argv: c.Exec})
		if err != nil {
			r.Status, r.Message = sdk.StatusCrit, err.Error()
			if errors.Is(err, sdk.ErrDenied) {
				r.Gauge("test.denied", 1, nil)
			}
			return r, nil
		}
		r.Message = out.Stdout
		r.Gauge("test.exit_code", float64(out.ExitCode), nil)
	}
	if c.Read != "" {
		b, err := sdk.ReadFile(ctx, c.Read, 0)
		if err != nil {
			r.Status, r.Message = sdk.StatusCrit, err.Error()
			return r, nil
		}
		r.Gauge("test.read_bytes", float64(len(b)), nil)
	}
	if c.Log != "" {
		sdk.Log(sdk.LevelWarn, c.Log, "calls", p.calls)
	}
	if c.Stdout != "" {
		fmt.Println(c.Stdout)
	}
	if c.Fail != "" {
		return r, errors.New(c.Fail)
	}
	if c.Nest > 0 {
		var v any = 0
		for range c.Nest {
			v = []any{v}
		}
		r.Entities = append(r.Entities, sdk.Entity{Kind: "k", ID: "i", Attrs: map[string]any{"a": v}})
	}
	r.Status = sdk.StatusOK
	return r, nil
}

func init() {
	sdk.Register(&probe{})
	switch os.Getenv("TESTPLUGIN_STDOUT") {
	case "init": // through os.Stdout, which sdk sends to stderr until Serve
		fmt.Println("hello from init")
	case "raw": // straight to file descriptor 1, ahead of the handshake
		syscall.Write(1, []byte("hello from fd 1\n"))
	}
	if d, err := time.ParseDuration(os.Getenv("TESTPLUGIN_START_DELAY")); err == nil {
		time.Sleep(d)
	}
}

func main() { sdk.Serve() }
