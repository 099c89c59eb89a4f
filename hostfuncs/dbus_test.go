package hostfuncs

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/godbus/dbus/v5"
)

// privateBus starts a dbus-daemon of its own (apt-get install -y dbus) and
// returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		missing(t, "dbus-daemon is not installed (apt-get install -y dbus)")
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // ready once it prints its address
		t.Fatal(err)
	}
	return addr
}

type unit struct {
	Name string
	Path dbus.ObjectPath
}

// testService is the D-Bus service the tests call. Its Slow method answers
// only once slow is closed, at the end of the test.
type testService struct{ slow <-chan struct{} }

func (testService) Echo(s string, n uint32, l []string, m map[string]dbus.Variant) (string, uint32, []string, map[string]dbus.Variant, *dbus.Error) {
	return s, n, l, m, nil
}

func (testService) Props() (map[string]dbus.Variant, *dbus.Error) {
	return map[string]dbus.Variant{
		"u":  dbus.MakeVariant(uint32(7)),
		"o":  dbus.MakeVariant(dbus.ObjectPath("/a/b")),
		"as": dbus.MakeVariant([]string{"x", "y"}),
		"ay": dbus.MakeVariant([]byte{1, 2}),
		"st": dbus.MakeVariant(unit{Name: "n", Path: "/p"}),
	}, nil
}

func (testService) Units() ([]unit, *dbus.Error) {
	return []unit{{"ssh.service", "/u/ssh"}, {"cron.service", "/u/cron"}}, nil
}

func (s testService) Slow() *dbus.Error {
	<-s.slow
	return nil
}

// serve exports testService as org.barbossa.Test on the bus.
func serve(t *testing.T, addr string) {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	if err := conn.Export(testService{slow: slow}, "/org/barbossa/Test", "org.barbossa.Test"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.barbossa.Test", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
}

func TestDBus(t *testing.T) {
	addr := privateBus(t)
	serve(t, addr)
	c, log := newCaller(t, Grants{DBus: []string{
		addr + " org.barbossa.Test org.barbossa.Test.Echo",
		addr + " org.barbossa.Test org.barbossa.Test.Props",
		addr + " org.barbossa.Test org.barbossa.Test.Units",
		addr + " org.barbossa.Test org.barbossa.Test.Slow",
	}})
	ctx := ctxTimeout(t, 10*time.Second)
	req := func(member, sig string, args ...any) sdk.DBusRequest {
		return sdk.DBusRequest{Bus: addr, Destination: "org.barbossa.Test", Path: "/org/barbossa/Test",
			Interface: "org.barbossa.Test", Member: member, Signature: sig, Args: args}
	}
	body := func(r sdk.DBusRequest) ([]any, string) {
		var resp sdk.DBusResponse
		e := call(t, c, ctx, "dbus", r, &resp)
		return resp.Body, e
	}

	got, e := body(req("Echo", "suasa{sv}", "hi", 7, []any{"a", "b"}, map[string]any{"k": "v", "n": 2}))
	want := []any{"hi", float64(7), []any{"a", "b"}, map[string]any{"k": "v", "n": float64(2)}}
	if e != "" || !reflect.DeepEqual(got, want) {
		t.Errorf("Echo with a signature = %#v %q", got, e)
	}
	// Guessed types: 7 is an int32, not the uint32 Echo takes.
	if _, e := body(req("Echo", "", "hi", 7, []any{"a"}, map[string]any{})); !strings.HasPrefix(e, "dbus: ") {
		t.Errorf("Echo with guessed types: %q", e)
	}
	if _, e := body(req("Echo", "su", "hi")); e != `dbus: signature "su" has 2 types for 1 args` {
		t.Errorf("%q", e)
	}
	if _, e := body(req("Echo", "suasa{sv}", "hi", -1, []any{}, map[string]any{})); e != "dbus: args[1] (u): -1 is out of range" {
		t.Errorf("%q", e)
	}

	got, e = body(req("Props", ""))
	wantProps := map[string]any{"u": float64(7), "o": "/a/b", "as": []any{"x", "y"}, "ay": []any{float64(1), float64(2)}, "st": []any{"n", "/p"}}
	if e != "" || len(got) != 1 || !reflect.DeepEqual(got[0], wantProps) {
		t.Errorf("Props = %#v %q", got, e)
	}
	got, e = body(req("Units", ""))
	if e != "" || !reflect.DeepEqual(got, []any{[]any{[]any{"ssh.service", "/u/ssh"}, []any{"cron.service", "/u/cron"}}}) {
		t.Errorf("Units = %#v %q", got, e)
	}

	start := time.Now()
	var resp sdk.DBusResponse
	if e := call(t, c, ctxTimeout(t, 200*time.Millisecond), "dbus", req("Slow", ""), &resp); !strings.HasPrefix(e, "timeout: dbus call org.barbossa.Test.Slow") || time.Since(start) > 2*time.Second {
		t.Errorf("deadline: %q after %s", e, time.Since(start))
	}

	for _, r := range []sdk.DBusRequest{
		req("Quit", ""), // member not granted
		{Bus: "system", Destination: "org.barbossa.Test", Path: "/org/barbossa/Test", Interface: "org.barbossa.Test", Member: "Echo"}, // other bus
		{Bus: addr, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "ListNames"},
	} {
		if _, e := body(r); !strings.HasPrefix(e, "denied: dbus call ") || !strings.HasSuffix(e, `is not granted to probe "x"`) {
			t.Errorf("%s.%s on %s: %q", r.Interface, r.Member, r.Bus, e)
		}
	}
	if c.Denied() != 3 || !strings.Contains(log.String(), `func=dbus denied="dbus call org.barbossa.Test.Quit on org.barbossa.Test`) {
		t.Errorf("Denied() = %d; log:\n%s", c.Denied(), log)
	}
	if _, e := body(sdk.DBusRequest{Bus: addr, Destination: "d", Path: "not a path", Interface: "i", Member: "m"}); e != `dbus: "not a path" is not a valid object path` {
		t.Errorf("%q", e)
	}
}

func TestDBusSystemBusAddressIsHonoured(t *testing.T) {
	addr := privateBus(t)
	serve(t, addr)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	c, _ := newCaller(t, Grants{DBus: []string{"org.freedesktop.DBus org.freedesktop.DBus.ListNames"}})
	var resp sdk.DBusResponse
	e := call(t, c, ctxTimeout(t, 10*time.Second), "dbus", sdk.DBusRequest{
		Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "ListNames"}, &resp)
	if e != "" || len(resp.Body) != 1 || !strings.Contains(fmtAny(resp.Body[0]), "org.barbossa.Test") {
		t.Errorf("ListNames on the system bus = %v %q", resp.Body, e)
	}
}

func fmtAny(v any) string {
	var b strings.Builder
	for _, s := range v.([]any) {
		b.WriteString(s.(string) + " ")
	}
	return b.String()
}

func TestSplitSignature(t *testing.T) {
	for sig, want := range map[string]string{
		"":               "",
		"s":              "s",
		"sas":            "s|as",
		"a{sv}u":         "a{sv}|u",
		"(ssu)aa{s(ii)}": "(ssu)|aa{s(ii)}",
		"a(ssssssouso)":  "a(ssssssouso)",
		"vbyq":           "v|b|y|q",
	} {
		types, err := splitSignature(sig)
		if err != nil || strings.Join(types, "|") != want {
			t.Errorf("splitSignature(%q) = %q, %v; want %q", sig, types, err, want)
		}
	}
	for _, bad := range []string{"a", "a{s", "(ss", "z", "a{sv"} {
		if _, err := splitSignature(bad); err == nil {
			t.Errorf("splitSignature(%q): no error", bad)
		}
	}
}

func TestDBusToJSON(t *testing.T) {
	in := []any{
		dbus.MakeVariant(dbus.MakeVariant(int32(-1))),
		dbus.ObjectPath("/x"),
		dbus.SignatureOf("s", uint32(1)),
		[]byte("hi"),
		map[uint32]string{1: "one"},
		[][]any{{"a", dbus.ObjectPath("/a")}},
	}
	want := []any{int32(-1), "/x", "su", []any{byte('h'), byte('i')}, map[string]any{"1": "one"}, []any{[]any{"a", "/a"}}}
	for i := range in {
		if got := dbusToJSON(in[i]); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("dbusToJSON(%#v) = %#v, want %#v", in[i], got, want[i])
		}
	}
}
