package sdk

import (
	"errors"
	"strconv"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

// The documents of docs/ABI.md as the probe's side writes and reads them,
// with the SDK's own codec (jsonenc.go, json.go) rather than encoding/json:
// the same keys as internal/abi's types and this package's json tags
// (TestWireMatchesEncodingJSON holds them together).

func (r ExecRequest) appendJSON(b []byte) []byte {
	b = append(b, `{"argv":`...)
	b = appendStrings(b, r.Argv)
	if r.TimeoutMS != 0 {
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, r.TimeoutMS, 10)
	}
	return append(b, '}')
}

func (r HTTPRequest) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if r.Socket != "" {
		b = append(b, `"socket":`...)
		b = appendString(b, r.Socket)
		b = append(b, ',')
	}
	if r.Method != "" {
		b = append(b, `"method":`...)
		b = appendString(b, r.Method)
		b = append(b, ',')
	}
	b = append(b, `"url":`...)
	b = appendString(b, r.URL)
	if len(r.Headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendStringMap(b, r.Headers)
	}
	if r.Body != "" {
		b = append(b, `,"body":`...)
		b = appendString(b, r.Body)
	}
	if r.TimeoutMS != 0 {
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, r.TimeoutMS, 10)
	}
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = appendStrings(b, r.Fields)
	}
	return append(b, '}')
}

func (r DBusRequest) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if r.Bus != "" {
		b = append(b, `"bus":`...)
		b = appendString(b, r.Bus)
		b = append(b, ',')
	}
	b = append(b, `"destination":`...)
	b = appendString(b, r.Destination)
	b = append(b, `,"path":`...)
	b = appendString(b, r.Path)
	b = append(b, `,"interface":`...)
	b = appendString(b, r.Interface)
	b = append(b, `,"member":`...)
	b = appendString(b, r.Member)
	if r.Signature != "" {
		b = append(b, `,"signature":`...)
		b = appendString(b, r.Signature)
	}
	if len(r.Args) > 0 {
		b = append(b, `,"args":`...)
		var err error
		if b, err = appendValue(b, r.Args); err != nil {
			return b, errors.New("args: " + err.Error())
		}
	}
	return append(b, '}'), nil
}

func appendReadFileRequest(b []byte, r abi.ReadFileRequest) []byte {
	b = append(b, `{"path":`...)
	b = appendString(b, r.Path)
	if r.MaxBytes != 0 {
		b = append(b, `,"max_bytes":`...)
		b = strconv.AppendInt(b, r.MaxBytes, 10)
	}
	return append(b, '}')
}

// appendBatch appends the batch envelope around requests already encoded.
func appendBatch(b []byte, items [][]byte, timeoutMS int64) []byte {
	b = append(b, `{"batch":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, ']')
	if timeoutMS != 0 {
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, timeoutMS, 10)
	}
	return append(b, '}')
}

func decodeExecResponse(j JSON) ExecResponse {
	return ExecResponse{
		ExitCode:  int(j.Get("exit_code").Int()),
		Stdout:    j.Get("stdout").Str(),
		Stderr:    j.Get("stderr").Str(),
		Truncated: j.Get("truncated").Bool(),
	}
}

func decodeHTTPResponse(j JSON) HTTPResponse {
	r := HTTPResponse{
		Status:    int(j.Get("status").Int()),
		Body:      j.Get("body").Str(),
		Encoding:  j.Get("encoding").Str(),
		Truncated: j.Get("truncated").Bool(),
	}
	if h := j.Get("headers"); h.Kind() == KindObject {
		r.Headers = make(map[string]string, h.Len())
		h.Each(func(k string, v JSON) { r.Headers[k] = v.Str() })
	}
	return r
}

func decodeDBusResponse(j JSON) DBusResponse {
	return DBusResponse{body: j.Get("body")}
}

func appendStatRequest(b []byte, r abi.StatRequest) []byte {
	b = append(b, `{"path":`...)
	b = appendString(b, r.Path)
	return append(b, '}')
}

func decodeFileInfo(j JSON) abi.FileInfo {
	return abi.FileInfo{Name: j.Get("name").Str(), Type: j.Get("type").Str(), Size: j.Get("size").Int(),
		Mode: uint32(j.Get("mode").Uint()), MTimeNS: j.Get("mtime_ns").Int()}
}

func decodeReadFileResponse(j JSON) abi.ReadFileResponse {
	r := abi.ReadFileResponse{
		Data:      j.Get("data").Str(),
		Encoding:  j.Get("encoding").Str(),
		Truncated: j.Get("truncated").Bool(),
	}
	if es := j.Get("entries"); es.Kind() == KindArray {
		r.Entries = make([]abi.DirEntry, 0, es.Len())
		for _, e := range es.Array() {
			r.Entries = append(r.Entries, abi.DirEntry{Name: e.Get("name").Str(), Type: e.Get("type").Str(),
				Size: e.Get("size").Int(), MTimeNS: e.Get("mtime_ns").Int()})
		}
	}
	return r
}

// decodeCollectRequest reads a collect request (abi.CollectRequest). Keys
// it does not know are ignored: a newer host may send more.
func decodeCollectRequest(b []byte) (abi.CollectRequest, error) {
	j, err := ParseJSON(b)
	if err != nil {
		return abi.CollectRequest{}, errors.New("decode collect request: " + err.Error())
	}
	if j.Kind() != KindObject {
		return abi.CollectRequest{}, errors.New("decode collect request: not a JSON object")
	}
	req := abi.CollectRequest{
		Probe:     j.Get("probe").Str(),
		Kind:      j.Get("kind").Str(),
		TimeoutMS: j.Get("timeout_ms").Int(),
	}
	for _, k := range []string{"probe", "kind"} {
		if v := j.Get(k); v.Exists() && v.Kind() != KindString && v.Kind() != KindNull {
			return abi.CollectRequest{}, errors.New("decode collect request: " + k + " is not a string")
		}
	}
	if v := j.Get("timeout_ms"); v.Exists() && v.Kind() != KindNumber && v.Kind() != KindNull {
		return abi.CollectRequest{}, errors.New("decode collect request: timeout_ms is not a number")
	}
	switch c := j.Get("config"); c.Kind() {
	case KindObject:
		req.Config, _ = c.Any().(map[string]any)
	case KindMissing, KindNull:
	default:
		return abi.CollectRequest{}, errors.New("decode collect request: config is not an object")
	}
	return req, nil
}

// encodeDescription is the barbossa_describe answer: {"probes": [INFO, ...]}.
func encodeDescription(infos []Info) []byte {
	b := []byte(`{"probes":[`)
	for i, in := range infos {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, in.Name)
		if in.Version != "" {
			b = append(b, `,"version":`...)
			b = appendString(b, in.Version)
		}
		if in.Description != "" {
			b = append(b, `,"description":`...)
			b = appendString(b, in.Description)
		}
		if in.Stateful {
			b = append(b, `,"stateful":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']', '}')
}
