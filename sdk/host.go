package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// ExecRequest runs a program. Argv[0] must be granted to the probe
// ([probe.allow] exec); there is never a shell.
type ExecRequest struct {
	Argv []string `json:"argv"`
	// TimeoutMS bounds the program's run; the host also stops it at the
	// run's deadline, whichever comes first. 0 means the run's deadline.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// ExecResponse is the outcome of a program that ran. A non-zero exit code is
// not an error.
type ExecResponse struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// Truncated is set when stdout or stderr went past the host's cap.
	Truncated bool `json:"truncated,omitempty"`
}

// HTTPRequest is one HTTP request, over TCP to a granted URL prefix or over
// a granted unix socket.
type HTTPRequest struct {
	// Socket is the path of a unix socket to connect to ("/var/run/docker.sock",
	// granted as "unix:///var/run/docker.sock"); the host part of URL is
	// then ignored.
	Socket    string            `json:"socket,omitempty"`
	Method    string            `json:"method,omitempty"` // default GET
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	// Fields, when set, asks the host to keep only these top-level keys of
	// a JSON object body, or of each object of a JSON array body, before
	// the body crosses into the guest. Decoding JSON in a WASM guest costs
	// ~200 ns a byte, the host's is ~100 times cheaper: a probe that reads
	// three keys of a 5 KB document saves most of its run. A body that is
	// not such JSON comes back whole.
	Fields []string `json:"fields,omitempty"`
}

// HTTPResponse is an HTTP response; any status is a response, not an error.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
	// Encoding is "base64" on the wire when the body is not valid UTF-8;
	// the SDK decodes it, so Body always holds the raw bytes.
	Encoding  string `json:"encoding,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// JSON parses the body as JSON, to read it field by field (see JSON). It
// is several times faster than Decode in a WASM guest and keeps reflection
// out of the module.
func (r HTTPResponse) JSON() (JSON, error) {
	j, err := ParseJSON([]byte(r.Body))
	if err != nil {
		return JSON{}, errors.New("http response (status " + strconv.Itoa(r.Status) + "): " + err.Error())
	}
	return j, nil
}

// Decode unmarshals a JSON body into v with encoding/json (reflection: in a
// WASM probe JSON is the lighter way).
func (r HTTPResponse) Decode(v any) error {
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		return fmt.Errorf("http response (status %d): %w", r.Status, err)
	}
	return nil
}

// DBusRequest is one D-Bus method call. The grant is checked as
// "destination interface.member" ([probe.allow] dbus).
type DBusRequest struct {
	// Bus is "system" (the default), "session" or a D-Bus address
	// ("unix:path=/run/x"); a bus other than system must be named in the grant.
	Bus         string `json:"bus,omitempty"`
	Destination string `json:"destination"`
	Path        string `json:"path"`
	Interface   string `json:"interface"`
	Member      string `json:"member"`
	// Signature is the D-Bus signature of Args ("ss", "as"); empty means
	// guess from JSON: string s, bool b, integer i, other number d, list of
	// strings as.
	Signature string `json:"signature,omitempty"`
	Args      []any  `json:"args,omitempty"`
}

// DBusResponse is a D-Bus reply: variants are unwrapped, object paths are
// strings, structs are arrays, byte arrays are arrays of numbers.
//
// A probe reads the reply with JSON (field by field: the cheapest in a WASM
// guest) or Values; Body is the reply as the host function encodes it
// (docs/ABI.md), and the SDK leaves it nil, since building it costs a WASM
// probe as much as the rest of a systemd run.
type DBusResponse struct {
	Body []any `json:"body"`
	body JSON
}

// JSON returns the reply body, a JSON array of the reply's values.
func (r DBusResponse) JSON() JSON { return r.body }

// Values returns the reply's values as encoding/json decodes them into an
// []any (strings, float64 numbers, bools, []any, map[string]any).
func (r DBusResponse) Values() []any {
	if r.Body != nil {
		return r.Body
	}
	v, _ := r.body.Any().([]any)
	return v
}

// Decode unmarshals the reply body (a JSON array) into v, e.g. a
// *[]struct{...} or a *[][]any, with encoding/json.
func (r DBusResponse) Decode(v any) error {
	b, err := json.Marshal(r.Values())
	if err != nil {
		return fmt.Errorf("dbus reply: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("dbus reply: %w", err)
	}
	return nil
}

// DirEntry is one entry of a directory listed by ReadDir.
type DirEntry struct {
	Name string
	Type string // file, dir, symlink or other (a symlink is not followed)
	// Size and ModTime are the entry's own (a symlink's, not its
	// target's); zero when the host could not look at it (it went away).
	Size    int64
	ModTime time.Time
}

// FileInfo is what Stat says of a file.
type FileInfo struct {
	Name    string // the last element of its path
	Type    string // file, dir or other: symlinks are followed
	Size    int64
	Mode    fs.FileMode // permission bits, and setuid, setgid, sticky
	ModTime time.Time
}

// ErrTruncated is matched (errors.Is) by the error of a ReadDir whose
// listing the host cut at the probe's max_dir_entries: the entries it
// returns with it are only some of the folder's.
var ErrTruncated = errors.New("truncated")

// Level is a log level; the values are log/slog's.
type Level int32

const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// ErrDenied is matched (errors.Is) by a host call the probe's grants refuse.
var ErrDenied = errors.New("denied")

// ErrTimeout is matched by a host call stopped by its timeout or the run's deadline.
var ErrTimeout = errors.New("timed out")

// HostError is an error a host function returned.
type HostError struct {
	Func    string // exec, http, dbus, read_file, stat
	Message string // as the host wrote it: "denied: ...", "timeout: ...", ...
}

func (e *HostError) Error() string { return e.Func + ": " + e.Message }

// Is makes errors.Is(err, ErrDenied) and errors.Is(err, ErrTimeout) work.
func (e *HostError) Is(target error) bool {
	switch target {
	case ErrDenied:
		return strings.HasPrefix(e.Message, "denied:")
	case ErrTimeout:
		return strings.HasPrefix(e.Message, "timeout:")
	}
	return false
}

// Transport carries host calls from the probe to whatever runs it: the WASM
// host imports under GOOS=wasip1, a go-plugin connection in a native plugin,
// or hostfuncs.Caller (or an sdktest replay) in a test. fn is the host
// function's name in docs/ABI.md ("exec", "http", "dbus", "read_file"); Call
// takes and returns that function's JSON documents. A host function's own
// failure comes back as {"error": "..."} in the response, the error result
// is for a broken transport.
type Transport interface {
	Call(ctx context.Context, fn string, req []byte) ([]byte, error)
	Log(level Level, msg string)
}

var transport = struct {
	sync.RWMutex
	t Transport
}{t: defaultTransport}

// SetTransport replaces the transport and returns the previous one. Probes
// never need it: native plugin serving uses it, and so do tests that run a
// probe in-process against real host functions:
//
//	caller, _ := hostfuncs.New(nil).NewCaller("tmux", hostfuncs.Grants{Exec: []string{"tmux"}}, nil)
//	defer sdk.SetTransport(sdk.SetTransport(caller))
func SetTransport(t Transport) (previous Transport) {
	transport.Lock()
	defer transport.Unlock()
	previous, transport.t = transport.t, t
	return previous
}

func currentTransport() Transport {
	transport.RLock()
	defer transport.RUnlock()
	return transport.t
}

// call sends req, a JSON request, to host function fn and returns its
// parsed response, or the host function's error.
func call(ctx context.Context, fn string, req []byte) (JSON, error) {
	if err := ctx.Err(); err != nil {
		return JSON{}, wrapErr(fn+": ", err)
	}
	out, err := currentTransport().Call(ctx, fn, req)
	if err != nil {
		return JSON{}, wrapErr(fn+": ", err)
	}
	j, err := ParseJSON(out)
	if err != nil {
		return JSON{}, errors.New(fn + ": decode response: " + err.Error())
	}
	if err := hostError(fn, j); err != nil {
		return JSON{}, err
	}
	return j, nil
}

// hostError returns the error of an {"error": "..."} response, or nil.
func hostError(fn string, j JSON) error {
	if e := j.Get("error"); e.Exists() {
		if msg := e.Str(); msg != "" {
			return &HostError{Func: fn, Message: msg}
		}
		if e.Kind() != KindString && e.Kind() != KindNull {
			return errors.New(fn + ": decode response: \"error\" is not a string")
		}
	}
	return nil
}

// wrapErr is fmt.Errorf(prefix+"%w", err) without fmt.
func wrapErr(prefix string, err error) error { return &prefixed{prefix, err} }

type prefixed struct {
	prefix string
	err    error
}

func (e *prefixed) Error() string { return e.prefix + e.err.Error() }
func (e *prefixed) Unwrap() error { return e.err }

// timeoutFrom fills a zero timeout from the context's deadline.
func timeoutFrom(ctx context.Context, ms int64) int64 {
	if ms > 0 {
		return ms
	}
	return abi.TimeoutMS(ctx)
}

// Exec runs a granted program with argv (no shell) and returns its exit
// code and output. A non-zero exit is not an error; see Output.
func Exec(ctx context.Context, req ExecRequest) (ExecResponse, error) {
	req.TimeoutMS = timeoutFrom(ctx, req.TimeoutMS)
	j, err := call(ctx, abi.FuncExec, req.appendJSON(nil))
	if err != nil {
		return ExecResponse{}, err
	}
	return decodeExecResponse(j), nil
}

// Output runs a granted program and returns its stdout; a non-zero exit is an
// error carrying the first line of stderr.
func Output(ctx context.Context, argv ...string) (string, error) {
	r, err := Exec(ctx, ExecRequest{Argv: argv})
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		msg, _, _ := strings.Cut(strings.TrimSpace(r.Stderr), "\n")
		return r.Stdout, fmt.Errorf("%s: exit code %d: %s", argv[0], r.ExitCode, msg)
	}
	return r.Stdout, nil
}

// HTTP makes an HTTP request to a granted URL prefix or unix socket.
func HTTP(ctx context.Context, req HTTPRequest) (HTTPResponse, error) {
	req.TimeoutMS = timeoutFrom(ctx, req.TimeoutMS)
	j, err := call(ctx, abi.FuncHTTP, req.appendJSON(nil))
	if err != nil {
		return HTTPResponse{}, err
	}
	resp := decodeHTTPResponse(j)
	body, err := decodeData(resp.Body, resp.Encoding)
	if err != nil {
		return resp, fmt.Errorf("http: %w", err)
	}
	resp.Body, resp.Encoding = body, ""
	return resp, nil
}

// DBus calls a granted D-Bus method and returns its reply.
func DBus(ctx context.Context, req DBusRequest) (DBusResponse, error) {
	in, err := req.appendJSON(nil)
	if err != nil {
		return DBusResponse{}, errors.New("dbus: encode request: " + err.Error())
	}
	j, err := call(ctx, abi.FuncDBus, in)
	if err != nil {
		return DBusResponse{}, err
	}
	return decodeDBusResponse(j), nil
}

// ReadFile reads up to maxBytes (0: the host's default, 1 MiB) of a file under
// a granted prefix. Data past maxBytes is dropped without an error.
func ReadFile(ctx context.Context, path string, maxBytes int64) ([]byte, error) {
	j, err := call(ctx, abi.FuncReadFile, appendReadFileRequest(nil, abi.ReadFileRequest{Path: path, MaxBytes: maxBytes}))
	if err != nil {
		return nil, err
	}
	resp := decodeReadFileResponse(j)
	if resp.Entries != nil {
		return nil, fmt.Errorf("read_file: %s is a directory", path)
	}
	data, err := decodeData(resp.Data, resp.Encoding)
	if err != nil {
		return nil, fmt.Errorf("read_file: %w", err)
	}
	return []byte(data), nil
}

// ReadDir lists a directory under a granted prefix ([probe.allow] read),
// with each entry's size and modification time. The host lists at most
// the probe's max_dir_entries entries (10,000 unless its config says
// otherwise), in the folder's own order: a folder with more returns those
// entries and an error matching ErrTruncated, so a count is never silently
// short. A probe that can do with part of a folder checks for it:
//
//	entries, err := sdk.ReadDir(ctx, dir)
//	if err != nil && !errors.Is(err, sdk.ErrTruncated) {
//		return sdk.Report{}, err
//	}
func ReadDir(ctx context.Context, path string) ([]DirEntry, error) {
	j, err := call(ctx, abi.FuncReadFile, appendReadFileRequest(nil, abi.ReadFileRequest{Path: path}))
	if err != nil {
		return nil, err
	}
	resp := decodeReadFileResponse(j)
	if resp.Entries == nil {
		return nil, fmt.Errorf("read_file: %s is not a directory", path)
	}
	entries := make([]DirEntry, len(resp.Entries))
	for i, e := range resp.Entries {
		entries[i] = DirEntry{Name: e.Name, Type: e.Type, Size: e.Size}
		if e.MTimeNS != 0 {
			entries[i].ModTime = time.Unix(0, e.MTimeNS)
		}
	}
	if resp.Truncated {
		return entries, fmt.Errorf("read_file: the listing of %s stopped at %d entries, the probe's max_dir_entries: %w", path, len(entries), ErrTruncated)
	}
	return entries, nil
}

// Stat returns a file's size, mode and modification time, under the same
// grant as ReadFile ([probe.allow] read): no exec of stat(1) needed.
// Symlinks are followed (within the grant).
func Stat(ctx context.Context, path string) (FileInfo, error) {
	j, err := call(ctx, abi.FuncStat, appendStatRequest(nil, abi.StatRequest{Path: path}))
	if err != nil {
		return FileInfo{}, err
	}
	resp := decodeFileInfo(j)
	return FileInfo{Name: resp.Name, Type: resp.Type, Size: resp.Size, Mode: fs.FileMode(resp.Mode&0o777) | unixModeBits(resp.Mode),
		ModTime: time.Unix(0, resp.MTimeNS)}, nil
}

// unixModeBits turns setuid, setgid and sticky, as stat(2) has them, into
// fs.FileMode's.
func unixModeBits(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

func decodeData(s, encoding string) (string, error) {
	switch encoding {
	case "":
		return s, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("decode base64 data: %w", err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("unknown data encoding %q", encoding)
}

// Log writes a message to the agent's log under the probe's name. args are
// key/value pairs, as with log/slog: sdk.Log(sdk.LevelWarn, "no server", "socket", path).
func Log(level Level, msg string, args ...any) {
	currentTransport().Log(level, formatLog(msg, args))
}

func formatLog(msg string, args []any) string {
	if len(args) == 0 {
		return msg
	}
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i < len(args); i += 2 {
		b.WriteByte(' ')
		if i+1 == len(args) {
			b.WriteString("!BADKEY=")
			b.WriteString(quoteIfNeeded(fmt.Sprint(args[i])))
			break
		}
		b.WriteString(fmt.Sprint(args[i]))
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(fmt.Sprint(args[i+1])))
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}
