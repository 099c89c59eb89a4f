package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
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
	var d Description
	if err := json.Unmarshal(describe(), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Probes) != 3 || d.Probes[0].Name != "first" || d.Probes[1].Name != "second" {
		t.Errorf("describe = %+v", d)
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
		{`not json`, `{"error":"decode collect request: invalid character 'o' in literal null (expecting 'u')"}`},
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
