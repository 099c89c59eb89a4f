package hostfuncs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/barbossa-agent/barbossa/internal/abi"
	"github.com/barbossa-agent/barbossa/sdk"
	"github.com/godbus/dbus/v5"
)

// dbusFunc is the host function "dbus" (docs/ABI.md), JSON in and out:
//
//	request  {"bus": "system", "destination": "org.freedesktop.systemd1",
//	          "path": "/org/freedesktop/systemd1",
//	          "interface": "org.freedesktop.systemd1.Manager", "member": "ListUnits",
//	          "signature": "", "args": []}
//	response {"body": [[["ssh.service", "OpenBSD Secure Shell server", "loaded", ...], ...]]}
//	       | {"error": "denied: dbus call org.freedesktop.systemd1.Manager.StopUnit on org.freedesktop.systemd1 (system bus) is not granted to probe \"x\""}
//	       | {"error": "dbus: org.freedesktop.DBus.Error.ServiceUnknown: ..."}
//
// The grant is checked as "[BUS] destination interface.member" (BUS
// defaults to system; "session" or a D-Bus address must be named in the
// grant), on names validated as the D-Bus specification defines them: a
// member has no dot, so it cannot reach another interface. Calls to the bus
// itself (org.freedesktop.DBus) are refused unless they only read
// (busReadOnly), whatever the grant: the others change the connection or
// the bus (BecomeMonitor, AddMatch with eavesdrop, RequestName,
// UpdateActivationEnvironment, ...). "system" honours
// DBUS_SYSTEM_BUS_ADDRESS and "session" DBUS_SESSION_BUS_ADDRESS. Each
// probe has connections of its own, made again after a failure, so no
// probe can break another's. args are typed by "signature" when given
// (basic types, arrays, dicts with basic keys, v) or else guessed: string
// s, bool b, integer i (x when it does not fit), other number d, list of
// strings as. In the reply, variants are unwrapped, object paths and
// signatures are strings, structs are arrays, byte arrays are arrays of
// numbers, dict keys are strings, NaN and infinities null; it is encoded
// within the call's budget. The call ends at the run's deadline.
var dbusFunc = jsonFunc(abi.FuncDBus, (*Caller).dbus)

func (c *Caller) dbus(ctx context.Context, req sdk.DBusRequest, b *callBudget) ([]byte, error) {
	bus := req.Bus
	if bus == "" {
		bus = "system"
	}
	if req.Destination == "" || req.Interface == "" || req.Member == "" {
		return nil, errors.New("dbus: destination, interface and member are required")
	}
	if err := checkDBusCall(req.Destination, req.Interface, req.Member); err != nil {
		return nil, fmt.Errorf("dbus: %w", err)
	}
	if !dbus.ObjectPath(req.Path).IsValid() {
		return nil, fmt.Errorf("dbus: %s is not a valid object path", quote(req.Path))
	}
	call := req.Interface + "." + req.Member
	what := fmt.Sprintf("dbus call %s on %s (%s bus)", call, req.Destination, cut(bus))
	if req.Destination == busDriver && !busReadOnly[call] {
		return nil, c.deny(ctx, abi.FuncDBus, what+" (it changes the connection or the bus: never granted)")
	}
	if !c.policy.dbusGranted(bus, req.Destination, req.Interface, req.Member) {
		return nil, c.deny(ctx, abi.FuncDBus, what)
	}
	args, err := dbusArgs(req.Signature, req.Args)
	if err != nil {
		return nil, fmt.Errorf("dbus: %w", err)
	}
	conn, err := c.host.bus(c, bus)
	if err != nil {
		return nil, fmt.Errorf("dbus: connect to the %s bus: %w", quote(bus), err)
	}
	reply := conn.Object(req.Destination, dbus.ObjectPath(req.Path)).CallWithContext(ctx, call, 0, args...)
	if reply.Err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("timeout: dbus call %s: the run's deadline has passed", call)
		}
		var derr dbus.Error
		if errors.As(reply.Err, &derr) {
			return nil, fmt.Errorf("dbus: %s: %v", derr.Name, derr.Error())
		}
		if !conn.Connected() {
			c.host.dropBus(c, bus, conn)
		}
		return nil, fmt.Errorf("dbus: %w", reply.Err)
	}
	return b.encode("the reply to "+what, func(w *jsonOut) {
		w.raw(`{"body":[`)
		for i, v := range reply.Body {
			if i > 0 {
				w.raw(",")
			}
			writeDBus(w, v)
		}
		w.raw("]}")
	})
}

// busDriver is the bus's own name: calls to it act on the bus.
const busDriver = "org.freedesktop.DBus"

// busReadOnly are the calls to the bus that only read; no other call to
// it is ever made for a probe.
var busReadOnly = map[string]bool{
	"org.freedesktop.DBus.ListNames":                           true,
	"org.freedesktop.DBus.ListActivatableNames":                true,
	"org.freedesktop.DBus.NameHasOwner":                        true,
	"org.freedesktop.DBus.GetNameOwner":                        true,
	"org.freedesktop.DBus.ListQueuedOwners":                    true,
	"org.freedesktop.DBus.GetConnectionUnixUser":               true,
	"org.freedesktop.DBus.GetConnectionUnixProcessID":          true,
	"org.freedesktop.DBus.GetConnectionCredentials":            true,
	"org.freedesktop.DBus.GetAdtAuditSessionData":              true,
	"org.freedesktop.DBus.GetConnectionSELinuxSecurityContext": true,
	"org.freedesktop.DBus.GetId":                               true,
	"org.freedesktop.DBus.Introspectable.Introspect":           true,
	"org.freedesktop.DBus.Peer.Ping":                           true,
	"org.freedesktop.DBus.Peer.GetMachineId":                   true,
	"org.freedesktop.DBus.Properties.Get":                      true,
	"org.freedesktop.DBus.Properties.GetAll":                   true,
}

type busKey struct {
	caller *Caller
	bus    string
}

// bus returns c's connection to a bus, connecting if needed.
func (h *Host) bus(c *Caller, name string) (*dbus.Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := busKey{c, name}
	if conn, ok := h.buses[key]; ok && conn.Connected() {
		return conn, nil
	}
	var (
		conn *dbus.Conn
		err  error
	)
	switch name {
	case "system":
		conn, err = dbus.ConnectSystemBus()
	case "session":
		conn, err = dbus.ConnectSessionBus()
	default:
		conn, err = dbus.Connect(name)
	}
	if err != nil {
		return nil, err
	}
	h.buses[key] = conn
	return conn, nil
}

func (h *Host) dropBus(c *Caller, name string, conn *dbus.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if key := (busKey{c, name}); h.buses[key] == conn {
		delete(h.buses, key)
		conn.Close()
	}
}

// closeBuses closes c's connections.
func (h *Host) closeBuses(c *Caller) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for k, conn := range h.buses {
		if k.caller == c {
			errs = append(errs, conn.Close())
			delete(h.buses, k)
		}
	}
	return errors.Join(errs...)
}

// dbusArgs converts JSON values into D-Bus values.
func dbusArgs(signature string, args []any) ([]any, error) {
	if signature == "" {
		out := make([]any, len(args))
		for i, a := range args {
			v, err := guessDBus(a)
			if err != nil {
				return nil, fmt.Errorf("args[%d]: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	types, err := splitSignature(signature)
	if err != nil {
		return nil, err
	}
	if len(types) != len(args) {
		return nil, fmt.Errorf("signature %q has %d types for %d args", signature, len(types), len(args))
	}
	out := make([]any, len(args))
	for i, a := range args {
		t, err := dbusType(types[i])
		if err != nil {
			return nil, err
		}
		v, err := convertDBus(types[i], t, a)
		if err != nil {
			return nil, fmt.Errorf("args[%d] (%s): %w", i, types[i], err)
		}
		out[i] = v.Interface()
	}
	return out, nil
}

func guessDBus(a any) (any, error) {
	switch v := a.(type) {
	case string, bool:
		return v, nil
	case float64:
		if v == math.Trunc(v) && v >= math.MinInt32 && v <= math.MaxInt32 {
			return int32(v), nil
		}
		if v == math.Trunc(v) && v >= math.MinInt64 && v <= math.MaxInt64 {
			return int64(v), nil
		}
		return v, nil
	case []any:
		ss := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("only lists of strings are guessed: give a signature")
			}
			ss[i] = s
		}
		return ss, nil
	}
	return nil, fmt.Errorf("cannot guess the D-Bus type of %T: give a signature", a)
}

// splitSignature splits a signature into its complete types: "sas" -> s, as.
func splitSignature(sig string) ([]string, error) {
	var types []string
	for rest := sig; rest != ""; {
		n, err := completeType(rest)
		if err != nil {
			return nil, fmt.Errorf("signature %q: %w", sig, err)
		}
		types, rest = append(types, rest[:n]), rest[n:]
	}
	return types, nil
}

// completeType returns the length of the complete type at the start of s.
func completeType(s string) (int, error) {
	if s == "" {
		return 0, errors.New("truncated")
	}
	switch s[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'v', 'h':
		return 1, nil
	case 'a':
		if len(s) > 1 && s[1] == '{' {
			k, err := completeType(s[2:])
			if err != nil {
				return 0, err
			}
			v, err := completeType(s[2+k:])
			if err != nil {
				return 0, err
			}
			if len(s) <= 2+k+v || s[2+k+v] != '}' {
				return 0, errors.New("unclosed {")
			}
			return 3 + k + v, nil
		}
		n, err := completeType(s[1:])
		return 1 + n, err
	case '(':
		i := 1
		for i < len(s) && s[i] != ')' {
			n, err := completeType(s[i:])
			if err != nil {
				return 0, err
			}
			i += n
		}
		if i >= len(s) {
			return 0, errors.New("unclosed (")
		}
		return i + 1, nil
	}
	return 0, fmt.Errorf("unknown type code %q", s[0])
}

var basicDBusTypes = map[byte]reflect.Type{
	'y': reflect.TypeFor[uint8](), 'b': reflect.TypeFor[bool](), 'n': reflect.TypeFor[int16](),
	'q': reflect.TypeFor[uint16](), 'i': reflect.TypeFor[int32](), 'u': reflect.TypeFor[uint32](),
	'x': reflect.TypeFor[int64](), 't': reflect.TypeFor[uint64](), 'd': reflect.TypeFor[float64](),
	's': reflect.TypeFor[string](), 'o': reflect.TypeFor[dbus.ObjectPath](), 'g': reflect.TypeFor[dbus.Signature](),
	'v': reflect.TypeFor[dbus.Variant](),
}

// dbusType is the Go type godbus sends as the complete type sig.
func dbusType(sig string) (reflect.Type, error) {
	if t, ok := basicDBusTypes[sig[0]]; ok && len(sig) == 1 {
		return t, nil
	}
	if sig[0] == 'a' {
		if sig[1] == '{' {
			k, err := completeType(sig[2:])
			if err != nil {
				return nil, err
			}
			kt, err := dbusType(sig[2 : 2+k])
			if err != nil {
				return nil, err
			}
			vt, err := dbusType(sig[2+k : len(sig)-1])
			if err != nil {
				return nil, err
			}
			return reflect.MapOf(kt, vt), nil
		}
		et, err := dbusType(sig[1:])
		if err != nil {
			return nil, err
		}
		return reflect.SliceOf(et), nil
	}
	return nil, fmt.Errorf("type %q is not supported in arguments", sig)
}

// convertDBus converts a JSON value to the Go type t of D-Bus type sig.
func convertDBus(sig string, t reflect.Type, a any) (reflect.Value, error) {
	switch sig[0] {
	case 'v':
		g, err := guessDBus(a)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(dbus.MakeVariant(g)), nil
	case 's', 'o':
		s, ok := a.(string)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a string, got %T", a)
		}
		if sig[0] == 'o' && !dbus.ObjectPath(s).IsValid() {
			return reflect.Value{}, fmt.Errorf("%q is not a valid object path", s)
		}
		return reflect.ValueOf(s).Convert(t), nil
	case 'g':
		s, ok := a.(string)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a string, got %T", a)
		}
		g, err := dbus.ParseSignature(s)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(g), nil
	case 'b':
		b, ok := a.(bool)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a bool, got %T", a)
		}
		return reflect.ValueOf(b), nil
	case 'y', 'n', 'q', 'i', 'u', 'x', 't':
		f, ok := a.(float64)
		if !ok || f != math.Trunc(f) {
			return reflect.Value{}, fmt.Errorf("want an integer, got %v", a)
		}
		v := reflect.New(t).Elem()
		if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
			if f < 0 || v.OverflowUint(uint64(f)) {
				return reflect.Value{}, fmt.Errorf("%v is out of range", f)
			}
			v.SetUint(uint64(f))
		} else {
			if v.OverflowInt(int64(f)) {
				return reflect.Value{}, fmt.Errorf("%v is out of range", f)
			}
			v.SetInt(int64(f))
		}
		return v, nil
	case 'd':
		f, ok := a.(float64)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a number, got %T", a)
		}
		return reflect.ValueOf(f), nil
	case 'a':
		if sig[1] == '{' {
			m, ok := a.(map[string]any)
			if !ok {
				return reflect.Value{}, fmt.Errorf("want an object, got %T", a)
			}
			k, _ := completeType(sig[2:])
			ksig, vsig := sig[2:2+k], sig[2+k:len(sig)-1]
			out := reflect.MakeMapWithSize(t, len(m))
			for key, val := range m {
				var kj any = key
				if kt := t.Key().Kind(); kt != reflect.String {
					var f float64
					if _, err := fmt.Sscan(key, &f); err != nil {
						return reflect.Value{}, fmt.Errorf("key %q: want a number", key)
					}
					kj = f
				}
				kv, err := convertDBus(ksig, t.Key(), kj)
				if err != nil {
					return reflect.Value{}, fmt.Errorf("key %q: %w", key, err)
				}
				vv, err := convertDBus(vsig, t.Elem(), val)
				if err != nil {
					return reflect.Value{}, fmt.Errorf("[%q]: %w", key, err)
				}
				out.SetMapIndex(kv, vv)
			}
			return out, nil
		}
		l, ok := a.([]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("want a list, got %T", a)
		}
		out := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			ev, err := convertDBus(sig[1:], t.Elem(), e)
			if err != nil {
				return reflect.Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			out.Index(i).Set(ev)
		}
		return out, nil
	}
	return reflect.Value{}, fmt.Errorf("type %q is not supported in arguments", sig)
}

// writeDBus writes a value of a godbus reply as plain JSON.
func writeDBus(w *jsonOut, v any) {
	switch x := v.(type) {
	case nil:
		w.raw("null")
		return
	case bool:
		w.bool(x)
		return
	case string:
		w.str(x)
		return
	case float64:
		w.float(x)
		return
	case uint8:
		w.uint(uint64(x))
		return
	case int16:
		w.int(int64(x))
		return
	case uint16:
		w.uint(uint64(x))
		return
	case int32:
		w.int(int64(x))
		return
	case uint32:
		w.uint(uint64(x))
		return
	case int64:
		w.int(x)
		return
	case uint64:
		w.uint(x)
		return
	case dbus.Variant:
		writeDBus(w, x.Value())
		return
	case dbus.ObjectPath:
		w.str(string(x))
		return
	case dbus.Signature:
		w.str(x.String())
		return
	case dbus.UnixFDIndex:
		w.uint(uint64(x))
		return
	case dbus.UnixFD:
		w.int(int64(x))
		return
	case []byte:
		w.raw("[")
		for i, c := range x {
			if i > 0 {
				w.raw(",")
			}
			w.uint(uint64(c))
		}
		w.raw("]")
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		w.raw("[")
		for i := range rv.Len() {
			if i > 0 {
				w.raw(",")
			}
			writeDBus(w, rv.Index(i).Interface())
		}
		w.raw("]")
	case reflect.Map:
		// Keys as strings, sorted, as encoding/json writes a map.
		type entry struct {
			key string
			val reflect.Value
		}
		entries := make([]entry, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			entries = append(entries, entry{dbusKey(it.Key().Interface()), it.Value()})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		w.raw("{")
		for i, e := range entries {
			if i > 0 {
				w.raw(",")
			}
			w.str(e.key)
			w.raw(":")
			writeDBus(w, e.val.Interface())
		}
		w.raw("}")
	case reflect.Struct:
		w.raw("[")
		first := true
		for i := 0; i < rv.NumField(); i++ {
			if !rv.Type().Field(i).IsExported() {
				continue
			}
			if !first {
				w.raw(",")
			}
			first = false
			writeDBus(w, rv.Field(i).Interface())
		}
		w.raw("]")
	default:
		w.str(fmt.Sprint(v))
	}
}

// dbusKey is a dict key of a reply as a JSON object key.
func dbusKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case dbus.ObjectPath:
		return string(x)
	case dbus.Signature:
		return x.String()
	case dbus.Variant:
		return dbusKey(x.Value())
	}
	return fmt.Sprint(k)
}
