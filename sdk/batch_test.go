package sdk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/abi"
)

func TestHTTPBatch(t *testing.T) {
	f := &fakeHost{resp: map[string]string{
		abi.FuncHTTP: `{"batch":[{"status":200,"body":"one"},{"error":"timeout: http GET of \"/b\" after 1s"},{"status":200,"body":"//4=","encoding":"base64"}]}`,
	}}
	withHost(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reqs := []HTTPRequest{{URL: "/a"}, {URL: "/b"}, {URL: "/c"}}
	resps, errs := HTTPBatch(ctx, reqs)
	if errs[0] != nil || resps[0].Body != "one" {
		t.Errorf("[0] = %+v, %v", resps[0], errs[0])
	}
	if !errors.Is(errs[1], ErrTimeout) {
		t.Errorf("[1] error = %v", errs[1])
	}
	if errs[2] != nil || resps[2].Body != "\xff\xfe" || resps[2].Encoding != "" {
		t.Errorf("[2] = %+v, %v", resps[2], errs[2])
	}
	if !strings.Contains(f.calls[0], `"batch":[{"url":"/a","timeout_ms":`) || !strings.Contains(f.calls[0], `],"timeout_ms":`) {
		t.Errorf("request = %s", f.calls[0])
	}
	if reqs[0].TimeoutMS != 0 {
		t.Error("HTTPBatch changed the caller's requests")
	}

	// A response count that does not match is an error for every request.
	f.resp[abi.FuncDBus] = `{"batch":[{"body":[1]}]}`
	_, errs = DBusBatch(ctx, []DBusRequest{{}, {}})
	if errs[0] == nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "2 requests got 1 responses") {
		t.Errorf("errs = %v", errs)
	}
	// A failed call fails every request.
	f.resp[abi.FuncDBus] = `{"error":"dbus: batch of 300 requests is over the limit of 256"}`
	_, errs = DBusBatch(ctx, []DBusRequest{{}})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "over the limit") {
		t.Errorf("errs = %v", errs)
	}
	if r, e := DBusBatch(ctx, nil); len(r) != 0 || len(e) != 0 || len(f.calls) != 3 {
		t.Errorf("an empty batch called the host: %d calls", len(f.calls))
	}
}
