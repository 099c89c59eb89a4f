package hostfuncs

import (
	"errors"
	"fmt"
	"strings"
)

// D-Bus names, as the specification defines them ("Valid Names"). A grant
// and a call are matched on names that passed these checks, so a member
// cannot hold a dot that would make godbus, which splits
// "interface.member" at its last dot, call another interface.

// maxDBusName is the longest name the specification allows.
const maxDBusName = 255

// checkDBusCall validates a call's destination, interface and member.
func checkDBusCall(destination, iface, member string) error {
	return errors.Join(checkBusName(destination), checkInterface(iface), checkMember(member))
}

// checkInterface: two or more elements joined by dots, each of
// [A-Za-z0-9_] not starting with a digit; at most 255 bytes.
func checkInterface(s string) error {
	if err := checkElements(s, false, false); err != nil {
		return fmt.Errorf("interface %s: %w", quote(s), err)
	}
	return nil
}

// checkMember: one element of [A-Za-z0-9_] not starting with a digit; at
// most 255 bytes. No dot.
func checkMember(s string) error {
	switch {
	case s == "":
		return errors.New("member: empty")
	case len(s) > maxDBusName:
		return fmt.Errorf("member %s: longer than %d bytes", quote(s), maxDBusName)
	case strings.Contains(s, "."):
		return fmt.Errorf("member %s: a member has no dot (is it an interface and a member?)", quote(s))
	}
	if err := checkElement(s, false, false); err != nil {
		return fmt.Errorf("member %s: %w", quote(s), err)
	}
	return nil
}

// checkBusName: a unique name (":1.42": elements of [A-Za-z0-9_-]) or a
// well-known one (elements of [A-Za-z0-9_-] not starting with a digit),
// two elements or more; at most 255 bytes.
func checkBusName(s string) error {
	var err error
	if rest, unique := strings.CutPrefix(s, ":"); unique {
		err = checkElements(rest, true, true)
	} else {
		err = checkElements(s, true, false)
	}
	if err != nil {
		return fmt.Errorf("bus name %s: %w", quote(s), err)
	}
	return nil
}

// checkElements checks a dotted name of two or more elements.
func checkElements(s string, dash, digitFirst bool) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxDBusName:
		return fmt.Errorf("longer than %d bytes", maxDBusName)
	}
	elems := strings.Split(s, ".")
	if len(elems) < 2 {
		return errors.New("want two or more elements joined by dots")
	}
	for _, e := range elems {
		if err := checkElement(e, dash, digitFirst); err != nil {
			return err
		}
	}
	return nil
}

// checkElement checks one element of a name: [A-Za-z0-9_] (and '-' with
// dash), not starting with a digit unless digitFirst.
func checkElement(e string, dash, digitFirst bool) error {
	if e == "" {
		return errors.New("an empty element")
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case c == '-' && dash:
		case c >= '0' && c <= '9':
			if i == 0 && !digitFirst {
				return fmt.Errorf("element %s starts with a digit", quote(e))
			}
		default:
			return fmt.Errorf("element %s holds %q", quote(e), c)
		}
	}
	return nil
}
