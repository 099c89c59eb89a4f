package sdk

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Settings reads a probe's [probe.config] table key by key into typed
// values, without reflection (Decode uses encoding/json, which in a WASM
// guest is slow and large). Each method sets *dst when the key is there
// and leaves the default in it otherwise; Err reports the first value of
// the wrong type, or a key nothing read, naming it:
//
//	cfg := Config{Socket: "/var/run/docker.sock", Stats: true}
//	s := req.Settings()
//	s.String("socket", &cfg.Socket)
//	s.Bool("stats", &cfg.Stats)
//	s.Strings("patterns", &cfg.Patterns)
//	if err := s.Err(); err != nil {
//		return sdk.Report{}, err // config of probe "docker": unknown key "sock" (it has patterns, socket, stats)
//	}
type Settings struct {
	probe string
	cfg   map[string]any
	read  []string
	err   error
}

// Settings starts reading the request's config.
func (r Request) Settings() *Settings { return &Settings{probe: r.Probe, cfg: r.Config} }

// lookup returns the value of key and marks it read.
func (s *Settings) lookup(key string) (any, bool) {
	s.read = append(s.read, key)
	v, ok := s.cfg[key]
	return v, ok && v != nil
}

func (s *Settings) wrong(key, want string, v any) {
	if s.err == nil {
		s.err = errors.New("config of probe " + strconv.Quote(s.probe) + ": " + key + ": want " + want + ", got " + jsonKind(v))
	}
}

// jsonKind names the kind of a decoded JSON (or TOML) value for errors.
func jsonKind(v any) string {
	switch v := v.(type) {
	case string:
		return "the string " + strconv.Quote(v)
	case bool:
		return "a boolean"
	case float64, int64, int:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return "another type"
}

// String reads a string.
func (s *Settings) String(key string, dst *string) {
	if v, ok := s.lookup(key); ok {
		if str, ok := v.(string); ok {
			*dst = str
		} else {
			s.wrong(key, "a string", v)
		}
	}
}

// Bool reads a boolean.
func (s *Settings) Bool(key string, dst *bool) {
	if v, ok := s.lookup(key); ok {
		if b, ok := v.(bool); ok {
			*dst = b
		} else {
			s.wrong(key, "true or false", v)
		}
	}
}

// Float reads a number.
func (s *Settings) Float(key string, dst *float64) {
	if v, ok := s.lookup(key); ok {
		if f, ok := number(v); ok {
			*dst = f
		} else {
			s.wrong(key, "a number", v)
		}
	}
}

// Int reads a whole number.
func (s *Settings) Int(key string, dst *int) {
	if v, ok := s.lookup(key); ok {
		if f, ok := number(v); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			*dst = int(f)
		} else {
			s.wrong(key, "a whole number", v)
		}
	}
}

// Duration reads a duration: a string in the one grammar of the project
// (ParseDuration: "30s", "1h30m", "7d") or a number of seconds.
func (s *Settings) Duration(key string, dst *time.Duration) {
	v, ok := s.lookup(key)
	if !ok {
		return
	}
	var d Duration
	var err error
	if str, isStr := v.(string); isStr {
		d.Duration, err = ParseDuration(str)
	} else if f, isNum := number(v); isNum {
		err = d.UnmarshalJSON([]byte(strconv.FormatFloat(f, 'g', -1, 64)))
	} else {
		s.wrong(key, "a duration such as \"30s\" or a number of seconds", v)
		return
	}
	if err != nil {
		if s.err == nil {
			s.err = errors.New("config of probe " + strconv.Quote(s.probe) + ": " + key + ": " + err.Error())
		}
		return
	}
	*dst = d.Duration
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}

// Strings reads a list of strings.
func (s *Settings) Strings(key string, dst *[]string) {
	v, ok := s.lookup(key)
	if !ok {
		return
	}
	switch list := v.(type) {
	case []string:
		*dst = append([]string(nil), list...)
		return
	case []any:
		out := make([]string, len(list))
		for i, e := range list {
			str, ok := e.(string)
			if !ok {
				s.wrong(key+"["+strconv.Itoa(i)+"]", "a string", e)
				return
			}
			out[i] = str
		}
		*dst = out
		return
	}
	s.wrong(key, "a list of strings", v)
}

// Err returns the first value of the wrong type, or else an error naming
// the keys of the config that no method read (misspelt, or not this
// probe's), so a typo never silently leaves a setting at its default.
func (s *Settings) Err() error {
	if s.err != nil {
		return s.err
	}
	var unknown []string
	for k := range s.cfg {
		known := false
		for _, r := range s.read {
			if r == k {
				known = true
				break
			}
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	keys := append([]string(nil), s.read...)
	sort.Strings(keys)
	what := "unknown key " + strconv.Quote(unknown[0])
	if len(unknown) > 1 {
		what = "unknown keys " + strings.Join(quoteAll(unknown), ", ")
	}
	return errors.New("config of probe " + strconv.Quote(s.probe) + ": " + what + " (it has " + strings.Join(keys, ", ") + ")")
}

// Check is Err, then check's verdict on the values read (a nil check is
// none), named as the probe's config as Err's errors are: the last line of
// a probe's config reader.
func (s *Settings) Check(check func() error) error {
	if err := s.Err(); err != nil || check == nil {
		return err
	}
	if err := check(); err != nil {
		return &configError{probe: s.probe, err: err}
	}
	return nil
}

// configError is a probe's config refused by its own check.
type configError struct {
	probe string
	err   error
}

func (e *configError) Error() string {
	return "config of probe " + strconv.Quote(e.probe) + ": " + e.err.Error()
}

func (e *configError) Unwrap() error { return e.err }

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}
