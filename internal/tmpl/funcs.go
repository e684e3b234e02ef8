package tmpl

import (
	"errors"
	"fmt"
	"reflect"
	"text/template/parse"
)

// call runs one of the builtins on its arguments (and the value piped in, which comes last),
// as text/template defines them. and and or evaluate their arguments only as far as needed.
func (s *state) call(dot reflect.Value, id *parse.IdentifierNode, n parse.Node, args []parse.Node, final reflect.Value, piped bool) (reflect.Value, error) {
	name := id.Ident
	argc := len(args)
	if piped {
		argc++
	}
	// nth evaluates argument i (the piped value is the last).
	nth := func(i int) (reflect.Value, error) {
		if i == len(args) {
			return final, nil
		}
		return s.arg(dot, args[i])
	}
	all := func() ([]reflect.Value, error) {
		vs := make([]reflect.Value, argc)
		for i := range vs {
			var err error
			if vs[i], err = nth(i); err != nil {
				return nil, err
			}
		}
		return vs, nil
	}
	wrong := func(want string) (reflect.Value, error) {
		return reflect.Value{}, s.errorf(n, "wrong number of args for %s: want %s got %d", name, want, argc)
	}
	switch name {
	case "and", "or":
		if argc < 1 {
			return wrong("at least 1")
		}
		var v reflect.Value
		for i := 0; i < argc; i++ {
			var err error
			if v, err = nth(i); err != nil {
				return v, err
			}
			truth, _ := isTrue(indirectInterface(v))
			if truth == (name == "or") {
				return v, nil
			}
		}
		return v, nil
	case "not":
		if argc != 1 {
			return wrong("1")
		}
		v, err := nth(0)
		if err != nil {
			return v, err
		}
		truth, _ := isTrue(indirectInterface(v))
		return reflect.ValueOf(!truth), nil
	case "eq", "ne", "lt", "le", "gt", "ge":
		if name == "eq" && argc < 2 || name != "eq" && argc != 2 {
			return wrong(map[bool]string{true: "at least 2", false: "2"}[name == "eq"])
		}
		vs, err := all()
		if err != nil {
			return reflect.Value{}, err
		}
		r, err := compare(name, vs[0], vs[1:])
		if err != nil {
			return reflect.Value{}, s.errorf(n, "error calling %s: %v", name, err)
		}
		return reflect.ValueOf(r), nil
	case "len":
		if argc != 1 {
			return wrong("1")
		}
		v, err := nth(0)
		if err != nil {
			return v, err
		}
		v = indirect(v)
		switch v.Kind() {
		case reflect.Array, reflect.Chan, reflect.Map, reflect.Slice, reflect.String:
			return reflect.ValueOf(v.Len()), nil
		}
		return reflect.Value{}, s.errorf(n, "error calling len: len of type %s", typeOf(v))
	case "index":
		if argc < 1 {
			return wrong("at least 1")
		}
		vs, err := all()
		if err != nil {
			return reflect.Value{}, err
		}
		v, err := index(vs[0], vs[1:])
		if err != nil {
			return reflect.Value{}, s.errorf(n, "error calling index: %v", err)
		}
		return v, nil
	case "print", "printf", "println":
		vs, err := all()
		if err != nil {
			return reflect.Value{}, err
		}
		out, err := sprint(name, vs)
		if err != nil {
			return reflect.Value{}, s.errorf(n, "error calling %s: %v", name, err)
		}
		return reflect.ValueOf(out), nil
	}
	return reflect.Value{}, s.errorf(n, "%q is not a defined function", name)
}

// sprint is print, printf or println: fmt's, on the values (a missing value is nil).
func sprint(name string, vs []reflect.Value) (string, error) {
	in := make([]any, len(vs))
	for i, v := range vs {
		if v = indirectInterface(v); v.IsValid() {
			in[i] = v.Interface()
		}
	}
	switch name {
	case "print":
		return fmt.Sprint(in...), nil
	case "println":
		return fmt.Sprintln(in...), nil
	}
	if len(in) == 0 {
		return "", errors.New("printf needs a format")
	}
	format, ok := in[0].(string)
	if !ok {
		return "", errors.New("the format is not a string")
	}
	return fmt.Sprintf(format, in[1:]...), nil
}

func typeOf(v reflect.Value) string {
	if !v.IsValid() {
		return "<nil>"
	}
	return v.Type().String()
}

// kind is a comparison class of basic kinds, as text/template's basicKind.
type kind int

const (
	invalidKind kind = iota
	boolKind
	intKind
	uintKind
	floatKind
	stringKind
)

func basicKind(v reflect.Value) kind {
	switch v.Kind() {
	case reflect.Bool:
		return boolKind
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intKind
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintKind
	case reflect.Float32, reflect.Float64:
		return floatKind
	case reflect.String:
		return stringKind
	}
	return invalidKind
}

var (
	errBadComparisonType = errors.New("invalid type for comparison")
	errBadComparison     = errors.New("incompatible types for comparison")
)

// compare runs eq (a equal to any of bs), ne, lt, le, gt or ge (a and bs[0]).
func compare(op string, a reflect.Value, bs []reflect.Value) (bool, error) {
	a = indirectInterface(a)
	if op == "eq" {
		for _, b := range bs {
			c, err := cmpBasic(a, indirectInterface(b), true)
			if err != nil {
				return false, err
			}
			if c == 0 {
				return true, nil
			}
		}
		return false, nil
	}
	c, err := cmpBasic(a, indirectInterface(bs[0]), op == "ne")
	if err != nil {
		return false, err
	}
	switch op {
	case "ne":
		return c != 0, nil
	case "lt":
		return c < 0, nil
	case "le":
		return c <= 0, nil
	case "gt":
		return c > 0, nil
	}
	return c >= 0, nil
}

// cmpBasic compares two values of basic kinds: -1, 0 or 1; with equality only, 0 or 1, and
// also values of one comparable type.
func cmpBasic(a, b reflect.Value, equality bool) (int, error) {
	if equality && (!a.IsValid() || !b.IsValid()) {
		// A missing value equals only another missing value, as in text/template.
		if a.IsValid() == b.IsValid() {
			return 0, nil
		}
		return 1, nil
	}
	ka, kb := basicKind(a), basicKind(b)
	if ka == invalidKind || kb == invalidKind {
		if equality && a.IsValid() && b.IsValid() && a.Type() == b.Type() && a.Type().Comparable() {
			if a.Equal(b) {
				return 0, nil
			}
			return 1, nil
		}
		return 0, errBadComparisonType
	}
	if ka != kb {
		switch {
		case ka == intKind && kb == uintKind:
			if a.Int() < 0 {
				return -1, nil
			}
			return cmp3(uint64(a.Int()), b.Uint()), nil
		case ka == uintKind && kb == intKind:
			if b.Int() < 0 {
				return 1, nil
			}
			return cmp3(a.Uint(), uint64(b.Int())), nil
		}
		return 0, errBadComparison
	}
	switch ka {
	case boolKind:
		if !equality {
			return 0, errBadComparisonType
		}
		if a.Bool() == b.Bool() {
			return 0, nil
		}
		return 1, nil
	case intKind:
		return cmp3(a.Int(), b.Int()), nil
	case uintKind:
		return cmp3(a.Uint(), b.Uint()), nil
	case floatKind:
		return cmp3(a.Float(), b.Float()), nil
	}
	return cmp3(a.String(), b.String()), nil
}

func cmp3[T int64 | uint64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// index is text/template's index: item[i][j]... over maps, slices, arrays and strings.
func index(item reflect.Value, indexes []reflect.Value) (reflect.Value, error) {
	item = indirect(item)
	if !item.IsValid() {
		return reflect.Value{}, errors.New("index of untyped nil")
	}
	for _, ix := range indexes {
		ix = indirectInterface(ix)
		switch item.Kind() {
		case reflect.Array, reflect.Slice, reflect.String:
			var i int64
			switch basicKind(ix) {
			case intKind:
				i = ix.Int()
			case uintKind:
				i = int64(ix.Uint())
			default:
				return reflect.Value{}, fmt.Errorf("cannot index slice/array with type %s", typeOf(ix))
			}
			if i < 0 || i >= int64(item.Len()) {
				return reflect.Value{}, fmt.Errorf("index out of range: %d", i)
			}
			item = item.Index(int(i))
		case reflect.Map:
			if !ix.IsValid() || !ix.Type().AssignableTo(item.Type().Key()) {
				return reflect.Value{}, fmt.Errorf("value has type %s; should be %s", typeOf(ix), item.Type().Key())
			}
			if x := item.MapIndex(ix); x.IsValid() {
				item = x
			} else {
				item = reflect.Zero(item.Type().Elem())
			}
		default:
			return reflect.Value{}, fmt.Errorf("can't index item of type %s", item.Type())
		}
		item = indirectInterface(item)
	}
	return item, nil
}
