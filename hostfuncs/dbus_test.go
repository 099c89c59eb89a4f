package hostfuncs

import (
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/barbossa-agent/barbossa/internal/testenv/testbus"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/godbus/dbus/v5"
)

// privateBus starts a dbus-daemon of its own and returns its address.
func privateBus(t *testing.T) string { return testbus.Start(t) }

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
	if _, e := body(sdk.DBusRequest{Bus: addr, Destination: "d.e", Path: "not a path", Interface: "i.j", Member: "m"}); e != `dbus: "not a path" is not a valid object path` {
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

func TestWriteDBus(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{dbus.MakeVariant(dbus.MakeVariant(int32(-1))), `-1`},
		{dbus.ObjectPath("/x"), `"/x"`},
		{dbus.SignatureOf("s", uint32(1)), `"su"`},
		{[]byte("hi"), `[104,105]`},
		{map[uint32]string{2: "two", 1: "one"}, `{"1":"one","2":"two"}`},
		{[][]any{{"a", dbus.ObjectPath("/a")}}, `[["a","/a"]]`},
		{unit{Name: "n\x00\"", Path: "/p"}, `["n\u0000\"","/p"]`},
		{math.NaN(), `null`},
		{map[string]dbus.Variant{"k": dbus.MakeVariant(uint64(1) << 63)}, `{"k":9223372036854775808}`},
	} {
		var count jsonOut
		count.counting = true
		writeDBus(&count, tc.in)
		var w jsonOut
		writeDBus(&w, tc.in)
		if string(w.buf) != tc.want || count.n != int64(len(w.buf)) {
			t.Errorf("writeDBus(%#v) = %s (counted %d), want %s", tc.in, w.buf, count.n, tc.want)
		}
	}
}

func TestDBusNames(t *testing.T) {
	for _, tc := range []struct {
		check func(string) error
		name  string
		ok    bool
	}{
		{checkMember, "ListUnits", true},
		{checkMember, "_x9", true},
		{checkMember, "Properties.Get", false}, // finding 7: a member has no dot
		{checkMember, "9x", false},
		{checkMember, "", false},
		{checkMember, "a-b", false},
		{checkMember, strings.Repeat("m", 256), false},
		{checkInterface, "org.freedesktop.DBus", true},
		{checkInterface, "org.freedesktop.DBus.Properties", true},
		{checkInterface, "org", false},
		{checkInterface, "org..x", false},
		{checkInterface, ".org.x", false},
		{checkInterface, "org.x.", false},
		{checkInterface, "org.9x", false},
		{checkInterface, "org.x-y", false},
		{checkInterface, "org.*", false},
		{checkBusName, "org.freedesktop.systemd1", true},
		{checkBusName, "org.x-y.z", true},
		{checkBusName, ":1.42", true},
		{checkBusName, ":1.42.x-9", true},
		{checkBusName, "org.9x", false},
		{checkBusName, ":1", false},
		{checkBusName, "org", false},
		{checkBusName, "org.x y", false},
	} {
		if err := tc.check(tc.name); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestDBusGrantsCannotBeWalkedAround is finding 7 of issue #8: under a
// grant of org.freedesktop.DBus.*, a member with dots (Properties.Get,
// Monitoring.BecomeMonitor) reached other interfaces, and BecomeMonitor
// broke the connection every probe shared. Members are validated, the
// bus's own calls that change state are never granted, and each probe
// has its own connections.
func TestDBusGrantsCannotBeWalkedAround(t *testing.T) {
	addr := privateBus(t)
	serve(t, addr)
	h := New(slog.New(slog.DiscardHandler))
	defer h.Close()
	hostile, err := h.NewCaller("hostile", Grants{DBus: []string{
		addr + " org.freedesktop.DBus org.freedesktop.DBus.*",
		addr + " org.freedesktop.DBus org.freedesktop.DBus.Monitoring.*",
		addr + " org.barbossa.Test org.barbossa.Test.*",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.NewCaller("other", Grants{DBus: []string{addr + " org.barbossa.Test org.barbossa.Test.Units"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	driver := func(iface, member, sig string, args ...any) sdk.DBusRequest {
		return sdk.DBusRequest{Bus: addr, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
			Interface: iface, Member: member, Signature: sig, Args: args}
	}
	for _, tc := range []struct {
		req  sdk.DBusRequest
		want string
	}{
		{driver("org.freedesktop.DBus", "Monitoring.BecomeMonitor", "asu", []any{}, 0), `dbus: member "Monitoring.BecomeMonitor": a member has no dot`},
		{driver("org.freedesktop.DBus", "Properties.Get", "ss", "org.freedesktop.DBus", "Features"), `dbus: member "Properties.Get": a member has no dot`},
		{driver("org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", []any{}, 0), "denied: dbus call org.freedesktop.DBus.Monitoring.BecomeMonitor on org.freedesktop.DBus"},
		{driver("org.freedesktop.DBus", "AddMatch", "s", "eavesdrop=true"), "denied: dbus call org.freedesktop.DBus.AddMatch"},
		{driver("org.freedesktop.DBus", "RequestName", "su", "org.barbossa.Test", 2), "denied: dbus call org.freedesktop.DBus.RequestName"},
		{driver("org.freedesktop.DBus", "UpdateActivationEnvironment", "a{ss}", map[string]any{"LD_PRELOAD": "/tmp/x.so"}), "denied: dbus call org.freedesktop.DBus.UpdateActivationEnvironment"},
		{driver("org.freedesktop.DBus", "Hello", ""), "denied: dbus call org.freedesktop.DBus.Hello"},
	} {
		if e := call(t, hostile, ctx, "dbus", tc.req, nil); !strings.HasPrefix(e, tc.want) {
			t.Errorf("%s.%s: %q, want %q", tc.req.Interface, tc.req.Member, e, tc.want)
		}
	}
	var resp sdk.DBusResponse
	if e := call(t, hostile, ctx, "dbus", driver("org.freedesktop.DBus", "ListNames", ""), &resp); e != "" || !strings.Contains(fmtAny(resp.Body[0]), "org.barbossa.Test") {
		t.Errorf("ListNames, a read, under the grant: %v %q", resp.Body, e)
	}
	units := sdk.DBusRequest{Bus: addr, Destination: "org.barbossa.Test", Path: "/org/barbossa/Test", Interface: "org.barbossa.Test", Member: "Units"}
	hc, _ := h.bus(hostile, addr)
	oc, _ := h.bus(other, addr)
	if hc == oc {
		t.Fatal("two probes share a D-Bus connection")
	}
	// Whatever the hostile probe does to its connection, the other's holds.
	hostile.Close()
	if e := call(t, other, ctx, "dbus", units, &resp); e != "" || len(resp.Body) != 1 {
		t.Errorf("the other probe's call after the first closed its connection: %q", e)
	}
	if e := call(t, hostile, ctx, "dbus", units, &resp); e != "" {
		t.Errorf("a probe connects again after its Close: %q", e)
	}
	for _, g := range []string{
		"org.freedesktop.DBus org.freedesktop.DBus.Monitoring.BecomeMonitor",
		"org.freedesktop.DBus org.freedesktop.DBus.AddMatch",
		"org.x org.x..Get",
		"org.x org.x.9",
	} {
		if _, err := compile(Grants{DBus: []string{g}}); err == nil {
			t.Errorf("grant %q accepted", g)
		}
	}
}
