package hostfuncs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

const (
	maxHTTPBody        = 8 << 20 // bytes of a response body kept
	maxHTTPRequestBody = 1 << 20
	defaultHTTPTimeout = 30 * time.Second
)

// httpFunc is the host function "http" (docs/ABI.md), JSON in and out:
//
//	request  {"socket": "/var/run/docker.sock", "method": "GET",
//	          "url": "http://docker/v1.43/containers/json", "headers": {}, "body": "",
//	          "timeout_ms": 2000}
//	response {"status": 200, "headers": {"Content-Type": "application/json"},
//	          "body": "[...]", "truncated": false}
//	       | {"status": 200, "body": "iVBO...", "encoding": "base64"}  (not UTF-8)
//	       | {"error": "denied: http GET of \"http://10.0.0.1/\" is not granted to probe \"x\""}
//
// With "socket", the socket's path must be granted as unix:///path and the
// URL's host is ignored; without it the URL must fall under a granted prefix
// (same scheme, host and port; path on a "/" boundary, after cleaning "..").
// A grant may also name the methods and path patterns it allows.
// Redirects are not followed: a 3xx is returned to the probe. No proxy is
// used. With "fields" (a list of keys) a JSON object body, or each object
// of a JSON array body, keeps only those top-level keys (see selectFields).
// The call ends at timeout_ms or the run's deadline, whichever is first;
// the body keeps its first 8 MiB (truncated is then true), read within the
// call's budget. Headers with several values are joined with ", ". A path
// with a backslash or a control character is refused (see checkURLPath).
var httpFunc = jsonFunc(abi.FuncHTTP, (*Caller).http)

func (c *Caller) http(ctx context.Context, req sdk.HTTPRequest, b *callBudget) ([]byte, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("http: bad url: %w", err)
	}
	if err := checkURLPath(u.Path); err != nil {
		return nil, fmt.Errorf("http: url %s: %w", quote(req.URL), err)
	}
	var rt http.RoundTripper
	if req.Socket != "" {
		socket := filepath.Clean(strings.TrimPrefix(req.Socket, "unix://"))
		// Send what was checked: ".." resolved, no raw escapes left.
		u.Path, u.RawPath = cleanURLPath(u.Path), ""
		if !c.policy.socketGranted(socket, method, u) {
			return nil, c.deny(ctx, abi.FuncHTTP, fmt.Sprintf("http %s of %s over socket %s", methodName(method), cut(u.Path), quote(socket)))
		}
		if u.Scheme == "" {
			u.Scheme = "http"
		}
		if u.Host == "" {
			u.Host = "localhost"
		}
		if u.Scheme != "http" {
			return nil, fmt.Errorf("http: over a unix socket the url must be http://..., not %s", u.Scheme)
		}
		rt = c.host.socketTransport(socket)
	} else {
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("http: url %s: scheme must be http or https", quote(req.URL))
		}
		// Send what was checked: ".." resolved, no raw escapes left.
		u.Path, u.RawPath = cleanURLPath(u.Path), ""
		if !c.policy.urlGranted(method, u) {
			return nil, c.deny(ctx, abi.FuncHTTP, fmt.Sprintf("http %s of %s", methodName(method), quote(u.Redacted())))
		}
		rt = c.host.tcp
	}
	if len(req.Body) > maxHTTPRequestBody {
		return nil, fmt.Errorf("http: request body of %d bytes is over the %d-byte limit", len(req.Body), maxHTTPRequestBody)
	}
	budget := timeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond, defaultHTTPTimeout)
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	for k, v := range req.Headers {
		hreq.Header.Set(k, v)
	}
	client := &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout: http %s of %q after %s", method, u.Redacted(), budget.Round(time.Millisecond))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("http %s of %q: %w", method, u.Redacted(), err)
	}
	defer hresp.Body.Close()
	what := fmt.Sprintf("http %s of %s", methodName(method), quote(u.Redacted()))
	body, held, err := readWithin(hresp.Body, maxHTTPBody+1, hresp.ContentLength+1, b)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout: %s after %s (reading the body)", what, budget.Round(time.Millisecond))
		}
		return nil, fmt.Errorf("%s: read body: %w", what, err)
	}
	defer b.giveWork(held)
	truncated := false
	if len(body) > maxHTTPBody {
		body, truncated = body[:maxHTTPBody], true
	} else if len(req.Fields) > 0 {
		// Filtering holds at most the body again (encoding/json's buffer
		// and one value), and its result is never longer than the body.
		if n := 2 * int64(len(body)); b.takeWork(n) {
			body = selectFields(body, req.Fields)
			b.giveWork(n)
		}
	}
	names := slices.Sorted(maps.Keys(hresp.Header))
	text := utf8.Valid(body)
	return b.encode(what, func(w *jsonOut) {
		w.raw(`{"status":`)
		w.int(int64(hresp.StatusCode))
		if len(names) > 0 {
			w.raw(`,"headers":{`)
			for i, k := range names {
				if i > 0 {
					w.raw(",")
				}
				w.str(k)
				w.raw(":")
				w.str(strings.Join(hresp.Header[k], ", "))
			}
			w.raw("}")
		}
		w.raw(`,"body":`)
		w.data(body, text, truncated)
		w.raw("}")
	})
}

// methodName shows a method in a message: as it is when it is a plain
// word (GET), quoted otherwise.
func methodName(m string) string {
	if len(m) > 0 && len(m) <= 16 && !strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return m
	}
	return quote(m)
}

// checkURLPath refuses a request path (decoded) that servers read in more
// than one way: a backslash, which some take for a "/" (so
// "/metrics/..\admin" would be "/admin" to them, while the grant checked a
// path under "/metrics"), and control characters, at which some cut the
// path short.
func checkURLPath(p string) error {
	if i := strings.IndexFunc(p, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }); i >= 0 {
		return fmt.Errorf("its path holds %q, which servers read differently: refused", p[i])
	}
	return nil
}

func newTCPTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil, // a probe's grants name hosts, not a proxy
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// socketTransport returns the shared transport that dials the unix socket.
func (h *Host) socketTransport(path string) *http.Transport {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.sockets[path]; ok {
		return t
	}
	var d net.Dialer
	t := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	h.sockets[path] = t
	return t
}

// selectFields keeps only the given top-level keys of a JSON object, or of
// each object of a JSON array (the "fields" of an http request), in the
// order of the body. Anything else, or JSON that does not parse, is
// returned as it was.
func selectFields(body []byte, fields []string) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	out := make([]byte, 0, len(body))
	tok, err := dec.Token()
	if err != nil {
		return body
	}
	switch tok {
	case json.Delim('{'):
		if out, err = keepFields(dec, out, fields); err != nil {
			return body
		}
	case json.Delim('['):
		out = append(out, '[')
		for i := 0; dec.More(); i++ {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return body
			}
			if i > 0 {
				out = append(out, ',')
			}
			if out, err = keepFields(dec, out, fields); err != nil {
				return body
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return body
		}
		out = append(out, ']')
	default:
		return body
	}
	if _, err := dec.Token(); err != io.EOF {
		return body // more after the value
	}
	return out
}

// keepFields copies the object whose '{' dec has just read to out, with
// only the given keys.
func keepFields(dec *json.Decoder, out []byte, fields []string) ([]byte, error) {
	out = append(out, '{')
	first := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if !slices.Contains(fields, key) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		w := jsonOut{buf: out}
		w.str(key)
		out = append(append(w.buf, ':'), v...)
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, err
	}
	return append(out, '}'), nil
}
