// Command goguest is the Go test guest of core/wasmhost: a probe written
// against the sdk, built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goguest.wasm .
//
// Its [probe.config] says what to do: "calls" is a list of host calls whose
// results come back as "call" entities, "mode" picks a misbehaviour. A
// second probe, "echo", shows one module bundling two probes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

type config struct {
	Mode    string `json:"mode"`     // "", spin, sleep, panic, error, oom, print, flood
	OOMFlag string `json:"oom_flag"` // mode oom: allocate without end while this file reads "1"
	Calls   []call `json:"calls"`
}

type call struct {
	Exec []string         `json:"exec"`
	Read string           `json:"read"`
	List string           `json:"list"`
	Stat string           `json:"stat"`
	HTTP *sdk.HTTPRequest `json:"http"`
	DBus *sdk.DBusRequest `json:"dbus"`
	// Raw sends req as it is to host function fn, as a hostile guest
	// would: a batch, a lying field, anything the sdk would not send.
	Raw *rawCall `json:"raw"`
}

type rawCall struct {
	Fn  string          `json:"fn"`
	Req json.RawMessage `json:"req"`
}

type probe struct{}

func (probe) Info() sdk.Info {
	return sdk.Info{Name: "goguest", Version: "1.0.0", Description: "test guest"}
}

var sink [][]byte

func (probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	var cfg config
	if err := req.Decode(&cfg); err != nil {
		return sdk.Report{}, err
	}
	sdk.Log(sdk.LevelInfo, "collect", "probe", req.Probe, "mode", cfg.Mode)
	switch cfg.Mode {
	case "spin":
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	case "sleep":
		time.Sleep(time.Hour)
	case "panic":
		panic("on purpose")
	case "error":
		return sdk.Report{}, fmt.Errorf("cannot run: on purpose")
	case "oom":
		if flag, err := sdk.ReadFile(ctx, cfg.OOMFlag, 16); err == nil && strings.TrimSpace(string(flag)) == "1" {
			for {
				sink = append(sink, make([]byte, 1<<20))
			}
		}
	case "flood":
		// 64 KiB of one-letter lines on each stream, every run.
		os.Stdout.Write(bytes.Repeat([]byte("x\n"), 32<<10))
		os.Stderr.Write(bytes.Repeat([]byte("y\n"), 32<<10))
	case "print":
		fmt.Println("hello on stdout")
		for range 2000 {
			fmt.Println(strings.Repeat("x", 99)) // 200 KB: past the capture limit
		}
	}
	var r sdk.Report
	r.Status = sdk.StatusOK
	r.Gauge("goguest.calls", float64(len(cfg.Calls)), nil)
	_, hasDeadline := ctx.Deadline()
	r.Gauge("goguest.has_deadline", b2f(hasDeadline), nil)
	for i, c := range cfg.Calls {
		e := sdk.Entity{Kind: "call", ID: fmt.Sprint(i), Health: sdk.StatusOK, State: "ok", Attrs: map[string]any{}}
		var err error
		switch {
		case c.Exec != nil:
			var resp sdk.ExecResponse
			resp, err = sdk.Exec(ctx, sdk.ExecRequest{Argv: c.Exec})
			e.Attrs["exit_code"], e.Attrs["stdout"], e.Attrs["truncated"] = resp.ExitCode, resp.Stdout, resp.Truncated
		case c.Read != "":
			var data []byte
			data, err = sdk.ReadFile(ctx, c.Read, 0)
			e.Attrs["data"] = string(data)
		case c.List != "":
			var entries []sdk.DirEntry
			entries, err = sdk.ReadDir(ctx, c.List)
			var bytes int64
			for _, de := range entries {
				bytes += de.Size
			}
			e.Attrs["entries"], e.Attrs["bytes"] = len(entries), bytes
			if errors.Is(err, sdk.ErrTruncated) {
				e.Attrs["truncated"], err = true, nil
			}
		case c.Stat != "":
			var fi sdk.FileInfo
			fi, err = sdk.Stat(ctx, c.Stat)
			e.Attrs["size"], e.Attrs["type"], e.Attrs["mode"] = fi.Size, fi.Type, fi.Mode.String()
		case c.HTTP != nil:
			var resp sdk.HTTPResponse
			resp, err = sdk.HTTP(ctx, *c.HTTP)
			e.Attrs["status"], e.Attrs["body"] = resp.Status, resp.Body
		case c.Raw != nil:
			// The sdk has no raw call: borrow its transport.
			t := sdk.SetTransport(nil)
			sdk.SetTransport(t)
			var out []byte
			if out, err = t.Call(ctx, c.Raw.Fn, c.Raw.Req); err == nil {
				e.Attrs["bytes"] = len(out)
				e.Attrs["head"] = string(out[:min(len(out), 200)])
				e.Attrs["too_large"] = bytes.Count(out, []byte("too large: "))
			}
		case c.DBus != nil:
			var resp sdk.DBusResponse
			resp, err = sdk.DBus(ctx, *c.DBus)
			e.Attrs["body"] = resp.Values()
		}
		if err != nil {
			e.State, e.Health = "error", sdk.StatusWarn
			e.Attrs["error"] = err.Error()
			e.Attrs["denied"] = errors.Is(err, sdk.ErrDenied)
			r.Worst(sdk.StatusWarn)
		}
		r.Add(e)
	}
	return r, nil
}

type echo struct{}

func (echo) Info() sdk.Info { return sdk.Info{Name: "echo"} }

func (echo) Collect(_ context.Context, req sdk.Request) (sdk.Report, error) {
	return sdk.Report{Status: sdk.StatusOK, Message: "echo " + req.Probe}, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func init() {
	sdk.Register(probe{})
	sdk.Register(echo{})
}

func main() { sdk.Serve() }
