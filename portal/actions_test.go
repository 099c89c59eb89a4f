package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeActor records actions and answers with a canned result or error.
type fakeActor struct {
	mu  sync.Mutex
	got []Action
	res ActionResult
	err error
}

func (f *fakeActor) Act(ctx context.Context, a Action) (ActionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, a)
	return f.res, f.err
}

func post(t testing.TB, h http.Handler, body string, hdr ...string) (*httptest.ResponseRecorder, actionResponse) {
	t.Helper()
	req := localRequest(http.MethodPost, "/api/v1/actions", strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:41234"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out actionResponse
	if rec.Header().Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("body %s: %v", rec.Body, err)
		}
	}
	return rec, out
}

func TestActions(t *testing.T) {
	actor := &fakeActor{res: ActionResult{Result: "done"}}
	grants := Actions{Units: []string{"nginx.service", "app-*.service"}, Containers: []string{"web-*"}, Actor: actor}
	auth := []string{"Authorization", "Bearer s3cret"}
	h := New(Config{Token: "s3cret", Actions: grants}, &fakeSource{}, nil).Handler()

	for _, tc := range []struct {
		name   string
		body   string
		hdr    []string
		status int
		errHas string
	}{
		{"granted unit", `{"kind":"unit","target":"nginx.service","action":"restart"}`, auth, 200, ""},
		{"granted by pattern", `{"kind":"unit","target":"app-api.service","action":"stop"}`, auth, 200, ""},
		{"granted container", `{"kind":"container","target":"web-1","action":"start"}`, auth, 200, ""},
		{"no token sent", `{"kind":"unit","target":"nginx.service","action":"restart"}`, nil, 401, "missing bearer token"},
		{"wrong token", `{"kind":"unit","target":"nginx.service","action":"restart"}`, []string{"Authorization", "Bearer nope"}, 401, "invalid bearer token"},
		{"unit not granted", `{"kind":"unit","target":"sshd.service","action":"stop"}`, auth, 403, `unit "sshd.service" is not granted by [portal.actions] units = ["nginx.service", "app-*.service"]`},
		{"pattern does not cross types", `{"kind":"unit","target":"app-api.socket","action":"stop"}`, auth, 403, "not granted"},
		{"container not granted", `{"kind":"container","target":"db","action":"stop"}`, auth, 403, `container "db" is not granted by [portal.actions] containers = ["web-*"]`},
		{"unknown kind", `{"kind":"vm","target":"x","action":"stop"}`, auth, 400, `kind: "vm" is not one of unit, container`},
		{"unknown action", `{"kind":"unit","target":"nginx.service","action":"reload"}`, auth, 400, `action: "reload" is not one of start, stop, restart`},
		{"unit without type", `{"kind":"unit","target":"nginx","action":"stop"}`, auth, 400, `target: "nginx" is not a unit name with its type`},
		{"glob as target", `{"kind":"container","target":"web-*","action":"stop"}`, auth, 400, `target: "web-*" is not a container name`},
		{"path as target", `{"kind":"unit","target":"../x.service","action":"stop"}`, auth, 400, "is not a unit name"},
		{"unknown field", `{"kind":"unit","target":"nginx.service","action":"stop","force":true}`, auth, 400, `unknown field "force"`},
		{"not json", `stop nginx`, auth, 400, "body: want"},
		{"second object", `{"kind":"unit","target":"nginx.service","action":"restart"}{"kind":"unit","target":"sshd.service","action":"stop"}`, auth, 400, "a second JSON value follows the object"},
		{"second object after a newline", "{\"kind\":\"unit\",\"target\":\"nginx.service\",\"action\":\"restart\"}\n[1]", auth, 400, "a second JSON value follows"},
		{"trailing garbage", `{"kind":"unit","target":"nginx.service","action":"restart"}garbage`, auth, 400, "after the object: invalid character"},
		{"trailing white space", "{\"kind\":\"unit\",\"target\":\"nginx.service\",\"action\":\"restart\"}\r\n\t ", auth, 200, ""},
		{"too big", `{"kind":"unit","target":"nginx.service","action":"restart"}` + strings.Repeat(" ", maxActionBody), auth, 413, "body: over 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, out := post(t, h, tc.body, tc.hdr...)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.errHas == "" && (out.Error != "" || out.Result != "done") || tc.errHas != "" && !strings.Contains(out.Error, tc.errHas) && !strings.Contains(rec.Body.String(), tc.errHas) {
				t.Errorf("body %s, want error containing %q", rec.Body, tc.errHas)
			}
		})
	}
	if len(actor.got) != 4 {
		t.Fatalf("the actor ran %d times, want 4 (granted requests only): %+v", len(actor.got), actor.got)
	}
	if a := actor.got[0]; a.Kind != "unit" || a.Target != "nginx.service" || a.Action != "restart" || a.Remote != "192.0.2.7:41234" {
		t.Errorf("actor got %+v", a)
	}

	// What the actor reports decides the status.
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("unit nginx.service: %w", ErrNoTarget), 404},
		{context.DeadlineExceeded, 504},
		{errors.New("job failed"), 502},
	} {
		actor.err, actor.res = tc.err, ActionResult{Result: "failed"}
		rec, out := post(t, h, `{"kind":"unit","target":"nginx.service","action":"start"}`, auth...)
		if rec.Code != tc.status || out.Error != tc.err.Error() || out.Result != "failed" || out.Target != "nginx.service" {
			t.Errorf("%v: status %d body %s", tc.err, rec.Code, rec.Body)
		}
	}

	req := localRequest(http.MethodGet, "/api/v1/actions", nil)
	req.Header.Set(auth[0], auth[1])
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestActionsNeedAToken(t *testing.T) {
	actor := &fakeActor{res: ActionResult{Result: "done"}}
	h := New(Config{Actions: Actions{Units: []string{"*"}, Actor: actor}}, &fakeSource{}, nil).Handler()
	rec, out := post(t, h, `{"kind":"unit","target":"nginx.service","action":"stop"}`)
	if rec.Code != 403 || !strings.HasPrefix(out.Error, "actions need a token") || len(actor.got) != 0 {
		t.Errorf("no token configured: %d %s (actor ran %d times)", rec.Code, rec.Body, len(actor.got))
	}
}

func TestActionGrants(t *testing.T) {
	actor := &fakeActor{}
	for _, tc := range []struct {
		g    Actions
		a    Action
		deny string // substring; "" = allowed
	}{
		{Actions{Units: []string{"nginx.service"}, Actor: actor}, Action{Kind: "unit", Target: "nginx.service"}, ""},
		{Actions{Units: []string{"nginx.service"}, Actor: actor}, Action{Kind: "unit", Target: "nginx.socket"}, "is not granted"},
		{Actions{Units: []string{"app-*.service"}, Actor: actor}, Action{Kind: "unit", Target: "app-.service"}, ""},
		{Actions{Units: []string{"app-*.service"}, Actor: actor}, Action{Kind: "unit", Target: "app.service"}, "is not granted"},
		{Actions{Units: []string{"app@?.service"}, Actor: actor}, Action{Kind: "unit", Target: "app@1.service"}, ""},
		{Actions{Units: []string{"app@?.service"}, Actor: actor}, Action{Kind: "unit", Target: "app@12.service"}, "is not granted"},
		{Actions{Units: []string{"*.service"}, Actor: actor}, Action{Kind: "container", Target: "web"}, "no containers are granted"},
		{Actions{Containers: []string{"web-[0-9]"}, Actor: actor}, Action{Kind: "container", Target: "web-7"}, ""},
		{Actions{Containers: []string{"web-[0-9]"}, Actor: actor}, Action{Kind: "container", Target: "web-a"}, "is not granted"},
		{Actions{}, Action{Kind: "unit", Target: "nginx.service"}, "not available"},
		{Actions{Actor: actor}, Action{Kind: "unit", Target: "nginx.service"}, "no units are granted: list name patterns in [portal.actions] units"},
	} {
		got := tc.g.denies(tc.a)
		if tc.deny == "" && got != "" || tc.deny != "" && !strings.Contains(got, tc.deny) {
			t.Errorf("%+v %s %s: denies = %q, want %q", tc.g.Units, tc.a.Kind, tc.a.Target, got, tc.deny)
		}
	}
}

// TestActionSmuggledSecondObject sends, over HTTP to a running portal, a
// body whose first object a proxy or log would see and a second one behind
// it: the request is refused and nothing runs.
func TestActionSmuggledSecondObject(t *testing.T) {
	actor := &fakeActor{res: ActionResult{Result: "done"}}
	s, _ := start(t, Config{Token: "s3cret", Actions: Actions{Units: []string{"*.service"}, Actor: actor}}, newFake())
	for _, body := range []string{
		`{"kind":"unit","target":"nginx.service","action":"restart"}{"kind":"unit","target":"sshd.service","action":"stop"}`,
		`{"kind":"unit","target":"nginx.service","action":"restart"} {"kind":"unit","target":"sshd.service","action":"stop"}`,
		`{"kind":"unit","target":"nginx.service","action":"restart"}}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/api/v1/actions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, resp.StatusCode)
		}
	}
	if len(actor.got) != 0 {
		t.Errorf("the actor ran: %+v", actor.got)
	}
}
