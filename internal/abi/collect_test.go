package abi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
)

func TestDecodeDescription(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"probes":[{"name":"a","version":"1"},{"name":"b","stateful":true}]}`, `[{"name":"a","version":"1"},{"name":"b","stateful":true}]`},
		{`{"name":"solo","version":"2","new_key":1}`, `[{"name":"solo","version":"2"}]`},
		{`{"probes":[]}`, "error: describe lists no probe (does the probe call sdk.Register?)"},
		{`{}`, "error: describe lists no probe (does the probe call sdk.Register?)"},
		{`{"probes":[{"version":"1"}]}`, "error: describe: probes[0] has no name"},
		{`{"probes":[{"name":"a"},{"name":"a"}]}`, `error: describe: probe "a" listed twice`},
		{`{"probes":[1]}`, "error: describe: probes[0]: json: cannot unmarshal number into Go value of type struct"},
		{`{"error":"broken"}`, "error: describe: broken"},
		{`{"error":""}`, `error: describe returned "{\"error\":\"\"}", not a description`},
		{`nope`, `error: describe returned "nope", not JSON: invalid character 'o' in literal null (expecting 'u')`},
		{`{"probes":[{"name":"a"}]} x`, `error: describe returned "{\"probes\":[{\"name\":\"a\"}]} x", not JSON: invalid character 'x' after top-level value`},
		{`{"probes":[{"name":"a","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}`, "error: describe: nested deeper than 32 levels"},
	} {
		infos, err := abi.DecodeDescription[sdk.Info]([]byte(tc.in))
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			b, _ := json.Marshal(infos)
			got = string(b)
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("DecodeDescription(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestDescriptionRoundTrip(t *testing.T) {
	in := []sdk.Info{{Name: "a", Version: "1"}, {Name: "b", Stateful: true}}
	b, err := abi.EncodeDescription(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := abi.DecodeDescription[sdk.Info](b)
	if err != nil || len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Errorf("%s -> %+v, %v", b, out, err)
	}
	if b, _ := abi.EncodeDescription[sdk.Info](nil); string(b) != `{"probes":[]}` {
		t.Errorf("no probes: %s", b)
	}
}

func TestCollectRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := abi.EncodeCollect(ctx, abi.CollectRequest{Probe: "p", Config: map[string]any{"a": 1.0}, Kind: "k", TimeoutMS: 5})
	if err != nil {
		t.Fatal(err)
	}
	req, err := abi.DecodeCollect(b)
	if err != nil || req.Probe != "p" || req.Kind != "k" || req.Config["a"] != 1.0 || req.TimeoutMS < 59000 || req.TimeoutMS > 60000 {
		t.Errorf("%s -> %+v, %v", b, req, err)
	}
	// No deadline, no timeout_ms; and keys a newer host may add are ignored.
	b, _ = abi.EncodeCollect(context.Background(), abi.CollectRequest{Probe: "p"})
	if string(b) != `{"probe":"p"}` {
		t.Errorf("no deadline: %s", b)
	}
	if req, err := abi.DecodeCollect([]byte(`{"probe":"p","future":true}`)); err != nil || req.Probe != "p" {
		t.Errorf("unknown key: %+v, %v", req, err)
	}
	if _, err := abi.DecodeCollect([]byte(`{"probe":1}`)); err == nil || !strings.HasPrefix(err.Error(), "decode collect request: ") {
		t.Errorf("bad request: %v", err)
	}
	// A deadline already passed still gives the guest 1 ms, not "none".
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if ms := abi.TimeoutMS(past); ms != 1 {
		t.Errorf("TimeoutMS after the deadline = %d", ms)
	}
}
