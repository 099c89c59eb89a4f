package config

import (
	"encoding"
	"errors"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// decode decodes TOML text into v (a pointer to a struct). A syntax error
// ends it: nothing after it can be read. A value of the wrong type does
// not: the decoder stops at the first one, so decode then goes key by key
// and returns every such problem (typeErrs, each naming file, line and
// key) with v filled from the keys that did decode, so that the checks
// can go on and one report says everything. bad lists the keys at fault,
// which are not "unknown". locate gives the line of a key (its path from
// the top) in the index-th entry of the array of tables it is in (-1
// outside one).
func decode(file string, data []byte, v any, locate func(key []string, index int) int) (md toml.MetaData, typeErrs []error, bad map[string]bool, err error) {
	md, err = toml.Decode(string(data), v)
	if err == nil {
		return md, nil, nil, nil
	}
	// Is the text TOML at all? The decoder reports some wrong values
	// (a TextUnmarshaler's error) as a ParseError too, so ask again
	// without a struct to fit.
	var raw map[string]toml.Primitive
	if md, err = toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return md, nil, nil, &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		return md, nil, nil, decodeError(file, err)
	}
	dst := reflect.ValueOf(v).Elem()
	dst.Set(reflect.Zero(dst.Type())) // undo what the failed decode filled
	d := keyDecoder{md: md, file: file, locate: locate, bad: map[string]bool{}}
	d.table(raw, dst, nil, -1)
	return md, d.errs, d.bad, nil
}

// keyDecoder decodes a table key by key, into the struct fields whose toml
// tags name them.
type keyDecoder struct {
	md     toml.MetaData
	file   string
	locate func(key []string, index int) int
	errs   []error
	bad    map[string]bool
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *keyDecoder) table(raw map[string]toml.Primitive, dst reflect.Value, path []string, index int) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		prim, ok := raw[name]
		if !f.IsExported() || name == "" || name == "-" || !ok {
			continue
		}
		key := append(path[:len(path):len(path)], name)
		field := dst.Field(i)
		tmp := reflect.New(f.Type)
		err := d.md.PrimitiveDecode(prim, tmp.Interface())
		if err == nil {
			field.Set(tmp.Elem())
			continue
		}
		switch {
		case f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler):
			var sub map[string]toml.Primitive
			if d.md.PrimitiveDecode(prim, &sub) == nil {
				d.table(sub, field, key, index)
				continue
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			var subs []map[string]toml.Primitive
			if d.md.PrimitiveDecode(prim, &subs) == nil {
				list := reflect.MakeSlice(f.Type, len(subs), len(subs))
				for j, sub := range subs {
					d.table(sub, list.Index(j), key, j)
				}
				field.Set(list)
				continue
			}
		}
		// The decoder's own line is that of the key's last occurrence in
		// the file, wrong for all but the last [[probe]].
		e := decodeError(d.file, err)
		e.Key = strings.Join(key, ".")
		e.Line = d.locate(key, index)
		d.bad[e.Key] = true
		d.errs = append(d.errs, e)
	}
}
