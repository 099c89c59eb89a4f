package sdk

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

type testProbe struct {
	name string
	run  func(ctx context.Context, req Request) (Report, error)
}

func (p testProbe) Info() Info { return Info{Name: p.name, Version: "0.1"} }

func (p testProbe) Collect(ctx context.Context, req Request) (Report, error) { return p.run(ctx, req) }

func init() {
	Register(testProbe{name: "first", run: func(ctx context.Context, req Request) (Report, error) {
		var cfg struct {
			Greeting string `json:"greeting"`
		}
		if err := req.Decode(&cfg); err != nil {
			return Report{}, err
		}
		_, deadline := ctx.Deadline()
		r := Report{Status: StatusOK, Message: cfg.Greeting + " " + req.Probe}
		if deadline {
			r.Gauge("first.deadline", 1, nil)
		}
		return r, nil
	}})
	Register(testProbe{name: "second", run: func(context.Context, Request) (Report, error) {
		return Report{}, errors.New("no server")
	}})
	Register(testProbe{name: "boom", run: func(context.Context, Request) (Report, error) {
		var m map[string]int
		m["x"] = 1
		return Report{}, nil
	}})
}

func TestDescribe(t *testing.T) {
	probes, err := abi.DecodeDescription[Info](describe())
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 3 || probes[0].Name != "first" || probes[1].Name != "second" {
		t.Errorf("describe = %+v", probes)
	}
}

func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		req, want string
	}{
		{`{"probe":"p1","config":{"greeting":"hi"},"timeout_ms":5000}`,
			`{"status":"ok","message":"hi p1","metrics":[{"name":"first.deadline","value":1}],"entities":[]}`},
		{`{"probe":"p2","kind":"first"}`, `{"status":"ok","message":" p2","metrics":[],"entities":[]}`},
		{`{"probe":"p3","kind":"second"}`, `{"error":"no server"}`},
		{`{"probe":"p4","kind":"third"}`, `{"error":"no probe of kind \"third\" in this module (it has first, second, boom)"}`},
		{`{"probe":"p5","config":{"greeting":5}}`, `{"error":"config of probe \"p5\": json: cannot unmarshal number into Go struct field .greeting of type string"}`},
		{`not json`, `{"error":"decode collect request: invalid JSON at byte 0: invalid literal"}`},
		{`[1]`, `{"error":"decode collect request: not a JSON object"}`},
		{`{"probe":"p6","config":[]}`, `{"error":"decode collect request: config is not an object"}`},
	} {
		if got := string(collect([]byte(tc.req))); got != tc.want {
			t.Errorf("collect(%s)\n got %s\nwant %s", tc.req, got, tc.want)
		}
	}
	got := string(collect([]byte(`{"kind":"boom"}`)))
	if !strings.HasPrefix(got, `{"error":"probe \"boom\" panicked: assignment to entry in nil map`) {
		t.Errorf("panic: %s", got)
	}
}

func TestRegisterRefusesDuplicates(t *testing.T) {
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), `"first" registered twice`) {
			t.Errorf("recover() = %v", v)
		}
	}()
	Register(testProbe{name: "first"})
}

// TestRequestMatchesCollectRequest keeps Request and the wire's collect
// request from drifting apart: every key of Request is one of the collect
// request's, and the collect request has no other key a probe cannot see
// but kind and timeout_ms (which the SDK itself reads).
func TestRequestMatchesCollectRequest(t *testing.T) {
	keys := func(v any) []string {
		var ks []string
		for f := range reflect.TypeOf(v).Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ks = append(ks, name)
		}
		slices.Sort(ks)
		return ks
	}
	req, wire := keys(Request{}), keys(abi.CollectRequest{})
	wire = slices.DeleteFunc(wire, func(k string) bool { return k == "kind" || k == "timeout_ms" })
	if !slices.Equal(req, wire) {
		t.Errorf("Request has keys %q, the collect request %q (besides kind and timeout_ms)", req, wire)
	}
}
