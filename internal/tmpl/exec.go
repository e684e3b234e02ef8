package tmpl

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"text/template/parse"
)

// maxDepth bounds how deep templates may call one another, against a template that calls
// itself for ever.
const maxDepth = 1000

// state is one execution: where it writes, the variables in scope, the tree being run (for
// error positions).
type state struct {
	t     *Template
	tree  *parse.Tree
	w     io.Writer
	vars  []variable
	depth int
}

// variable is a $name in scope and its value.
type variable struct {
	name  string
	value reflect.Value
}

// noValue is what text/template prints for a missing value.
const noValue = "<no value>"

func (t *Template) run(w io.Writer, tree *parse.Tree, data any) error {
	v := reflect.ValueOf(data)
	s := &state{t: t, tree: tree, w: w, vars: []variable{{"$", v}}}
	return s.walk(v, tree.Root)
}

func (s *state) errorf(n parse.Node, format string, args ...any) error {
	return errorf(s.tree, n, format, args...)
}

func (s *state) walk(dot reflect.Value, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := s.walk(dot, c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode:
		if _, err := s.w.Write(n.Text); err != nil {
			return fmt.Errorf("template: write: %w", err)
		}
		return nil
	case *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		v, err := s.pipeline(dot, n.Pipe)
		if err != nil {
			return err
		}
		if len(n.Pipe.Decl) == 0 {
			return s.print(n, v)
		}
		return nil
	case *parse.IfNode:
		return s.ifOrWith(dot, &n.BranchNode, false)
	case *parse.WithNode:
		return s.ifOrWith(dot, &n.BranchNode, true)
	case *parse.RangeNode:
		return s.rangeOver(dot, n)
	case *parse.TemplateNode:
		return s.template(dot, n)
	}
	return s.errorf(n, "%v: %w", n, ErrUnsupported)
}

func (s *state) ifOrWith(dot reflect.Value, b *parse.BranchNode, with bool) error {
	mark := len(s.vars)
	defer func() { s.vars = s.vars[:mark] }()
	v, err := s.pipeline(dot, b.Pipe)
	if err != nil {
		return err
	}
	truth, err := isTrue(indirectInterface(v))
	if err != nil {
		return s.errorf(b.Pipe, "if/with can't use %v", v)
	}
	if truth {
		if with {
			return s.walk(v, b.List)
		}
		return s.walk(dot, b.List)
	}
	return s.walk(dot, b.ElseList)
}

func (s *state) rangeOver(dot reflect.Value, r *parse.RangeNode) error {
	mark := len(s.vars)
	defer func() { s.vars = s.vars[:mark] }()
	v, err := s.pipeline(dot, r.Pipe)
	if err != nil {
		return err
	}
	v = indirect(v)
	bodyMark := len(s.vars)
	one := func(index, elem reflect.Value) error {
		// The pipeline declared its variables last: with one, it is the element; with two,
		// the first is the index and the second the element.
		switch len(r.Pipe.Decl) {
		case 1:
			s.vars[len(s.vars)-1].value = elem
		case 2:
			s.vars[len(s.vars)-2].value = index
			s.vars[len(s.vars)-1].value = elem
		}
		defer func() { s.vars = s.vars[:bodyMark] }()
		return s.walk(elem, r.List)
	}
	n := 0
	switch v.Kind() {
	case reflect.Array, reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if err := one(reflect.ValueOf(i), v.Index(i)); err != nil {
				return err
			}
		}
		n = v.Len()
	case reflect.Map:
		keys := v.MapKeys()
		switch {
		case len(keys) == 0:
		case keys[0].Kind() == reflect.String:
			slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.String(), b.String()) })
		case isInt(keys[0].Kind()):
			slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Int(), b.Int()) })
		default:
			return s.errorf(r, "range over a map keyed by %s: %w", v.Type().Key(), ErrUnsupported)
		}
		for _, k := range keys {
			if err := one(k, v.MapIndex(k)); err != nil {
				return err
			}
		}
		n = len(keys)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		for i := int64(0); i < v.Int(); i++ {
			x := reflect.ValueOf(i).Convert(v.Type())
			if err := one(x, x); err != nil {
				return err
			}
		}
		n = int(max(v.Int(), 0))
	case reflect.Invalid:
	default:
		return s.errorf(r, "range can't iterate over %v", v)
	}
	if n == 0 {
		return s.walk(dot, r.ElseList)
	}
	return nil
}

func (s *state) template(dot reflect.Value, n *parse.TemplateNode) error {
	tree, ok := s.t.trees[n.Name]
	if !ok {
		return s.errorf(n, "template %q not defined", n.Name)
	}
	if s.depth >= maxDepth {
		return s.errorf(n, "exceeded maximum template depth (%v)", maxDepth)
	}
	v, err := s.pipeline(dot, n.Pipe)
	if err != nil {
		return err
	}
	inner := &state{t: s.t, tree: tree, w: s.w, vars: []variable{{"$", v}}, depth: s.depth + 1}
	return inner.walk(v, tree.Root)
}

// pipeline evaluates a pipeline and declares or assigns its variables.
func (s *state) pipeline(dot reflect.Value, p *parse.PipeNode) (reflect.Value, error) {
	var v reflect.Value
	if p == nil {
		return v, nil
	}
	for i, c := range p.Cmds {
		var err error
		if v, err = s.command(dot, c, v, i > 0); err != nil {
			return reflect.Value{}, err
		}
		// A value from a function or an interface field is looked through, as text/template does.
		if v.Kind() == reflect.Interface && v.Type().NumMethod() == 0 {
			v = reflect.ValueOf(v.Interface())
		}
	}
	for _, d := range p.Decl {
		if p.IsAssign {
			if err := s.setVar(d, v); err != nil {
				return reflect.Value{}, err
			}
		} else {
			s.vars = append(s.vars, variable{d.Ident[0], v})
		}
	}
	return v, nil
}

func (s *state) setVar(d *parse.VariableNode, v reflect.Value) error {
	for i := len(s.vars) - 1; i >= 0; i-- {
		if s.vars[i].name == d.Ident[0] {
			s.vars[i].value = v
			return nil
		}
	}
	return s.errorf(d, "undefined variable: %s", d.Ident[0])
}

func (s *state) varValue(n *parse.VariableNode) (reflect.Value, error) {
	for i := len(s.vars) - 1; i >= 0; i-- {
		if s.vars[i].name == n.Ident[0] {
			return s.vars[i].value, nil
		}
	}
	return reflect.Value{}, s.errorf(n, "undefined variable: %s", n.Ident[0])
}

// command evaluates one command of a pipeline; final is the value piped into it, if piped
// (it may be the invalid Value of a missing key).
func (s *state) command(dot reflect.Value, c *parse.CommandNode, final reflect.Value, piped bool) (reflect.Value, error) {
	first := c.Args[0]
	if id, ok := first.(*parse.IdentifierNode); ok {
		return s.call(dot, id, c, c.Args[1:], final, piped)
	}
	if len(c.Args) > 1 || piped {
		return reflect.Value{}, s.errorf(first, "can't give argument to non-function %s", first)
	}
	return s.arg(dot, first)
}

// arg evaluates one operand: a field, a variable, a constant, dot or a parenthesised pipeline.
func (s *state) arg(dot reflect.Value, n parse.Node) (reflect.Value, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		return dot, nil
	case *parse.FieldNode:
		return s.fieldChain(dot, n, n.Ident)
	case *parse.VariableNode:
		v, err := s.varValue(n)
		if err != nil || len(n.Ident) == 1 {
			return v, err
		}
		return s.fieldChain(v, n, n.Ident[1:])
	case *parse.ChainNode:
		v, err := s.arg(dot, n.Node)
		if err != nil {
			return v, err
		}
		return s.fieldChain(v, n, n.Field)
	case *parse.PipeNode:
		mark := len(s.vars)
		defer func() { s.vars = s.vars[:mark] }()
		return s.pipeline(dot, n)
	case *parse.IdentifierNode:
		return s.call(dot, n, n, nil, reflect.Value{}, false)
	case *parse.StringNode:
		return reflect.ValueOf(n.Text), nil
	case *parse.BoolNode:
		return reflect.ValueOf(n.True), nil
	case *parse.NumberNode:
		// As text/template's idealConstant: 2.0 is a float, 2 and 0x2 and 'a' are ints.
		hex := len(n.Text) > 2 && n.Text[0] == '0' && (n.Text[1] == 'x' || n.Text[1] == 'X') && !strings.ContainsAny(n.Text, "pP")
		switch {
		case n.IsFloat && !hex && n.Text[0] != '\'' && strings.ContainsAny(n.Text, ".eEpP"):
			return reflect.ValueOf(n.Float64), nil
		case n.IsInt:
			return reflect.ValueOf(int(n.Int64)), nil
		case n.IsFloat:
			return reflect.ValueOf(n.Float64), nil
		case n.IsUint:
			return reflect.ValueOf(n.Uint64), nil
		}
		return reflect.Value{}, s.errorf(n, "number %s: %w", n.Text, ErrUnsupported)
	case *parse.NilNode:
		return reflect.Value{}, s.errorf(n, "nil is not a command")
	}
	return reflect.Value{}, s.errorf(n, "can't handle %s: %w", n, ErrUnsupported)
}

// fieldChain reads the fields named by idents one after the other, starting at v.
func (s *state) fieldChain(v reflect.Value, n parse.Node, idents []string) (reflect.Value, error) {
	for _, name := range idents {
		var err error
		if v, err = s.field(v, n, name); err != nil {
			return reflect.Value{}, err
		}
	}
	return v, nil
}

// field reads one field of a struct or one entry of a map: never a method (the package
// comment says why).
func (s *state) field(v reflect.Value, n parse.Node, name string) (reflect.Value, error) {
	recv := indirectInterface(v)
	for recv.Kind() == reflect.Pointer {
		if recv.IsNil() {
			return reflect.Value{}, s.errorf(n, "nil pointer evaluating %s.%s", v.Type(), name)
		}
		recv = recv.Elem()
	}
	switch recv.Kind() {
	case reflect.Struct:
		if f, ok := recv.Type().FieldByName(name); ok {
			if !f.IsExported() {
				return reflect.Value{}, s.errorf(n, "%s is an unexported field of struct type %s", name, v.Type())
			}
			fv, err := recv.FieldByIndexErr(f.Index)
			if err != nil {
				return reflect.Value{}, s.errorf(n, "%v", err)
			}
			return fv, nil
		}
	case reflect.Map:
		key := reflect.ValueOf(name)
		if key.Type().AssignableTo(recv.Type().Key()) {
			r := recv.MapIndex(key)
			if !r.IsValid() && s.t.o.MissingKeyError {
				return reflect.Value{}, s.errorf(n, "map has no entry for key %q", name)
			}
			return r, nil
		}
	case reflect.Invalid:
		if s.t.o.MissingKeyError {
			return reflect.Value{}, s.errorf(n, "nil data; no entry for key %q", name)
		}
		return reflect.Value{}, nil
	}
	return reflect.Value{}, s.errorf(n, "can't evaluate field %s in type %s", name, v.Type())
}

// print writes a value as text/template prints it, escaped when the template is a page.
func (s *state) print(n parse.Node, v reflect.Value) error {
	text, err := printable(v)
	if err != nil {
		return s.errorf(n, "%v", err)
	}
	if s.t.o.HTML {
		text = HTMLEscape(text)
	}
	if _, err := io.WriteString(s.w, text); err != nil {
		return fmt.Errorf("template: write: %w", err)
	}
	return nil
}

var (
	errorType    = reflect.TypeFor[error]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

// printable is the text of a value: fmt's, through pointers that are not themselves errors or
// Stringers, and "<no value>" for none.
func printable(v reflect.Value) (string, error) {
	v = indirectInterface(v)
	if !v.IsValid() {
		return noValue, nil
	}
	if v.Kind() == reflect.Pointer && !v.Type().Implements(errorType) && !v.Type().Implements(stringerType) {
		v = indirect(v)
		if !v.IsValid() {
			return "<nil>", nil
		}
	}
	switch v.Kind() {
	case reflect.Chan, reflect.Func:
		return "", fmt.Errorf("can't print value of type %s", v.Type())
	}
	return fmt.Sprint(v.Interface()), nil
}

// indirect follows pointers to the value; a nil pointer gives the invalid Value.
func indirect(v reflect.Value) reflect.Value {
	v = indirectInterface(v)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = indirectInterface(v.Elem())
	}
	return v
}

func indirectInterface(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// isTrue is text/template's truth: non-zero numbers, non-empty strings and collections,
// non-nil pointers, true, and any struct.
func isTrue(v reflect.Value) (bool, error) {
	if !v.IsValid() {
		return false, nil
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() > 0, nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Complex64, reflect.Complex128:
		return v.Complex() != 0, nil
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.Interface:
		return !v.IsNil(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() != 0, nil
	case reflect.Float32, reflect.Float64:
		return v.Float() != 0, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() != 0, nil
	case reflect.Struct:
		return true, nil
	}
	return false, errors.New("no truth value")
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}
