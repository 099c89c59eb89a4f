package hostfuncs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// of a JSON array body, keeps only those top-level keys (see selectFields). The call ends at timeout_ms or the run's deadline, whichever is
// first; the body keeps its first 8 MiB (truncated is then true). Headers
// with several values are joined with ", ".
var httpFunc = jsonFunc(abi.FuncHTTP, (*Caller).http)

func (c *Caller) http(ctx context.Context, req sdk.HTTPRequest) (any, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("http: bad url: %w", err)
	}
	var rt http.RoundTripper
	if req.Socket != "" {
		socket := filepath.Clean(strings.TrimPrefix(req.Socket, "unix://"))
		// Send what was checked: ".." resolved, no raw escapes left.
		u.Path, u.RawPath = cleanURLPath(u.Path), ""
		if !c.policy.socketGranted(socket, method, u) {
			return nil, c.deny(ctx, abi.FuncHTTP, fmt.Sprintf("http %s of %s over socket %q", method, u.Path, socket))
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
			return nil, fmt.Errorf("http: url %q: scheme must be http or https", req.URL)
		}
		// Send what was checked: ".." resolved, no raw escapes left.
		u.Path, u.RawPath = cleanURLPath(u.Path), ""
		if !c.policy.urlGranted(method, u) {
			return nil, c.deny(ctx, abi.FuncHTTP, fmt.Sprintf("http %s of %q", method, u.Redacted()))
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
	body, err := io.ReadAll(io.LimitReader(hresp.Body, maxHTTPBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout: http %s of %q after %s (reading the body)", method, u.Redacted(), budget.Round(time.Millisecond))
		}
		return nil, fmt.Errorf("http %s of %q: read body: %w", method, u.Redacted(), err)
	}
	resp := sdk.HTTPResponse{Status: hresp.StatusCode, Headers: map[string]string{}}
	if len(body) > maxHTTPBody {
		body, resp.Truncated = body[:maxHTTPBody], true
	} else if len(req.Fields) > 0 {
		body = selectFields(body, req.Fields)
	}
	for k, v := range hresp.Header {
		resp.Headers[k] = strings.Join(v, ", ")
	}
	if utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body, resp.Encoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return resp, nil
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
// each object of a JSON array (the "fields" of an http request). Anything
// else, or JSON that does not parse, is returned as it was.
func selectFields(body []byte, fields []string) []byte {
	keep := func(m map[string]json.RawMessage) {
		for k := range m {
			if !slices.Contains(fields, k) {
				delete(m, k)
			}
		}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return body
	}
	var out []byte
	var err error
	switch trimmed[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(trimmed, &m) != nil {
			return body
		}
		keep(m)
		out, err = json.Marshal(m)
	case '[':
		var list []map[string]json.RawMessage
		if json.Unmarshal(trimmed, &list) != nil {
			return body
		}
		for _, m := range list {
			keep(m)
		}
		out, err = json.Marshal(list)
	default:
		return body
	}
	if err != nil {
		return body
	}
	return out
}
