// Package docker is the Docker probe: every container with its name,
// image, state, status, health check, restart count, ports, labels and
// times, and for running ones CPU, memory, network, block I/O and PIDs,
// read from the Docker Engine API on its unix socket through the http host
// function. It is built to WASM (plugins/docker/cmd) and runs sandboxed
// with one grant:
//
//	[probe.allow]
//	http = ["GET unix:///var/run/docker.sock /containers/json /containers/*/json /containers/*/stats"]
//
// One run is one list request and one batch of inspect and one-shot stats
// requests, which the host sends together (a WASM guest cannot overlap
// host calls itself), all bounded by the run's deadline. Reading
// (Collect) is kept apart from turning API documents into a report
// (api.go, report.go), which is pure and golden-tested.
package docker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
)

// Version is the probe's version, reported by Info.
const Version = "1.0.0"

// maxBatch is the host's limit of requests in one batch.
const maxBatch = 256

// Probe reports Docker containers. It keeps the previous run's CPU
// readings, so CPU percentages cover the time between two runs without a
// run waiting for a second reading: in a WASM instance kept between runs,
// or a native plugin. In a fresh instance per run the first reading has no
// predecessor and docker.container.cpu_percent is left out;
// docker.container.cpu_seconds_total is always there.
type Probe struct {
	mu   sync.Mutex
	prev map[string]cpuSample
}

var _ sdk.Probe = (*Probe)(nil)

// New returns a docker probe.
func New() *Probe { return &Probe{} }

// Info names the probe "docker".
func (*Probe) Info() sdk.Info {
	// Stateful: CPU percent is the delta from the previous run's counters.
	return sdk.Info{Name: "docker", Version: Version, Description: "Docker containers over the Engine API: state, health, restarts, CPU, memory, I/O", Stateful: true}
}

// Collect reads the containers once. It returns an error for a bad config,
// a request the grants refuse, the run's deadline, or a reply that is not
// the Engine API's; Docker not running is a report with status unknown, no
// Docker socket at all a report that it is not present (sdk.NotPresent).
func (p *Probe) Collect(ctx context.Context, req sdk.Request) (sdk.Report, error) {
	cfg, err := decodeConfig(req)
	if err != nil {
		return sdk.Report{}, err
	}
	resp, err := sdk.HTTP(ctx, get(cfg.Socket, "/containers/json?all=1", listFields))
	switch {
	case errors.Is(err, sdk.ErrDenied):
		return sdk.Report{}, fmt.Errorf("list containers: %w (grant http = [\"unix://%s\"])", err, cfg.Socket)
	case errors.Is(err, sdk.ErrTimeout) || ctx.Err() != nil:
		return sdk.Report{}, fmt.Errorf("list containers: %w", err)
	case err != nil && absent(err):
		return sdk.NotPresent(fmt.Sprintf("no Docker on this host (no socket at %s)", cfg.Socket)), nil
	case err != nil:
		return unknown(notRunning(cfg.Socket, err)), nil
	case resp.Status != 200:
		return unknown(fmt.Sprintf("the Docker Engine at %s answered %d to GET /containers/json: %s", cfg.Socket, resp.Status, apiMessage(resp.Body))), nil
	}
	list, err := resp.JSON()
	if err == nil && list.Kind() != sdk.KindArray {
		err = errors.New("not a JSON array")
	}
	if err != nil {
		return sdk.Report{}, fmt.Errorf("GET /containers/json from %s: %w", cfg.Socket, err)
	}
	var cs []container
	for _, j := range list.Array() {
		if l := decodeListed(j); cfg.keeps(l.Name()) {
			cs = append(cs, container{listed: l})
		}
	}
	note := p.details(ctx, cfg, cs)

	p.mu.Lock()
	defer p.mu.Unlock()
	r, next := buildReport(cs, p.prev, cfg, note)
	p.prev = next
	return r, nil
}

// The top-level keys each request reads (see api.go); the host drops the
// rest before the body enters the guest, where JSON is expensive.
var (
	listFields    = []string{"Id", "Names", "Image", "Command", "Created", "State", "Status", "Ports", "Labels"}
	inspectFields = []string{"RestartCount", "State"}
	statsFields   = []string{"read", "cpu_stats", "precpu_stats", "memory_stats", "networks", "blkio_stats", "pids_stats"}
)

func get(socket, path string, fields []string) sdk.HTTPRequest {
	return sdk.HTTPRequest{Socket: socket, URL: "http://docker" + path, Headers: map[string]string{"Accept": "application/json"}, Fields: fields}
}

// details inspects every container, and reads one-shot stats of the running
// ones, in one batch the host runs concurrently, leaving a quarter of the
// time left (at most 1 s) for the report. It fills cs in place and returns
// a note on what could not be read.
func (p *Probe) details(ctx context.Context, cfg Config, cs []container) string {
	type slot struct {
		i     int
		stats bool
	}
	var reqs []sdk.HTTPRequest
	var slots []slot
	for i, c := range cs {
		id := url.PathEscape(c.ID)
		reqs = append(reqs, get(cfg.Socket, "/containers/"+id+"/json", inspectFields))
		slots = append(slots, slot{i, false})
		if cfg.Stats && c.State == "running" {
			reqs = append(reqs, get(cfg.Socket, "/containers/"+id+"/stats?stream=false&one-shot=true", statsFields))
			slots = append(slots, slot{i, true})
		}
	}
	if len(reqs) == 0 {
		return ""
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left-min(left/4, time.Second))
		defer cancel()
	}
	var timedOut, failed int
	var firstErr error
	for start := 0; start < len(reqs); start += maxBatch {
		end := min(start+maxBatch, len(reqs))
		resps, errs := sdk.HTTPBatch(ctx, reqs[start:end])
		for k := range resps {
			s := slots[start+k]
			err := errs[k]
			if err == nil && resps[k].Status != 200 {
				// 404: the container went away since the list.
				err = fmt.Errorf("%s: %d %s", reqs[start+k].URL, resps[k].Status, apiMessage(resps[k].Body))
			}
			if err == nil {
				var doc sdk.JSON
				if doc, err = resps[k].JSON(); err == nil && doc.Kind() != sdk.KindObject {
					err = errors.New(reqs[start+k].URL + ": not a JSON object")
				}
				if err == nil && s.stats {
					st := decodeStats(doc)
					cs[s.i].stats = &st
				} else if err == nil {
					in := decodeInspected(doc)
					cs[s.i].inspect = &in
				}
			}
			switch {
			case err == nil:
			case errors.Is(err, sdk.ErrTimeout):
				timedOut++
			default:
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	switch {
	case timedOut > 0:
		return fmt.Sprintf("%d inspect/stats requests cut by the deadline", timedOut)
	case failed > 0:
		sdk.Log(sdk.LevelDebug, "inspect/stats requests failed", "count", failed, "first", firstErr)
	}
	return ""
}

// unknown is the report when Docker cannot be asked.
func unknown(msg string) sdk.Report {
	return sdk.Report{Status: sdk.StatusUnknown, Message: msg, Metrics: []sdk.Metric{}, Entities: []sdk.Entity{}}
}

// absent says whether err means there is no Docker here at all: no socket
// file. A socket nobody listens on is a Docker that stopped, not an absent
// one.
func absent(err error) bool {
	return strings.Contains(err.Error(), "no such file or directory")
}

// notRunning says why the Engine API could not be reached, in a user's terms.
func notRunning(socket string, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no such file or directory"):
		return fmt.Sprintf("Docker is not running (no socket at %s)", socket)
	case strings.Contains(msg, "connection refused"):
		return fmt.Sprintf("Docker is not running (nothing listens on %s)", socket)
	case strings.Contains(msg, "permission denied"):
		return fmt.Sprintf("cannot connect to the Docker Engine at %s: permission denied (the agent needs root or the docker group)", socket)
	}
	return fmt.Sprintf("cannot reach the Docker Engine at %s: %v", socket, err)
}

// apiMessage is the message of an Engine API error body ({"message": ...}).
func apiMessage(body string) string {
	if j, err := sdk.ParseJSON([]byte(body)); err == nil {
		if msg := j.Get("message").Str(); msg != "" {
			return msg
		}
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return strings.TrimSpace(body)
}
