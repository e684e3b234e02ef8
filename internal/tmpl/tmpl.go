// Package tmpl runs the part of Go's template language that accessbot's config templates
// (account names, LDAP DNs and filters, SSH principals and key IDs) and its HTML pages (the
// audit report, the policy report, the step-up page) use, on the parse trees of
// text/template/parse.
//
// Why not text/template: its executor looks methods up by a name known only at run time
// (reflect.Value.MethodByName in evalField), and one such call anywhere in a program makes the
// linker keep every exported method of every type that is reachable, for the whole binary
// (BENCHMARKS.md "4. Memory": 28% of `serve`'s code). This package reads struct fields and map
// entries only, never methods, so the linker's dead-code elimination of methods stays on.
//
// What it runs: text; fields and chains of fields (.A.B) of structs, maps and pointers to them;
// variables ($, $x := ..., $x = ...); if, else if, else, with, range (slices, arrays, maps with
// string or integer keys, integers); define and template; and the functions and, or, not, eq,
// ne, lt, le, gt, ge, len, index, print, printf and println, as text/template defines them.
// Anything else (method calls, break and continue, the functions call, html, js, slice and
// urlquery) is refused when the template is parsed, with the error text/template gives for an
// unknown function, so a config using it fails `config validate` rather than a grant.
//
// With Options.HTML a template is a page: every value an action writes is escaped as
// html/template escapes it in text and in quoted attribute values (the two contexts are escaped
// alike there), and an action anywhere else (a URL, a script, a style, an event handler, an
// unquoted attribute, an HTML comment) is refused when the page is parsed. The pages accessbot
// writes put values only in those two contexts, which is why that is all this package allows.
package tmpl

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/template/parse"
)

// Options say how a template is parsed and run.
type Options struct {
	// MissingKeyError makes a missing map key an error (text/template's missingkey=error);
	// without it the value prints as "<no value>", as text/template's default does.
	MissingKeyError bool
	// HTML parses a page: values escaped as html/template escapes them, actions only in text and
	// in quoted attributes that are neither URLs, scripts nor styles.
	HTML bool
}

// Template is a parsed template with the templates it defines. It is safe for concurrent use:
// executing it changes nothing in it.
type Template struct {
	name  string
	trees map[string]*parse.Tree
	o     Options
}

// builtins are the functions a template may call. The values are what parse needs to know a
// name is a function; the executor calls each by name (call below).
var builtins = map[string]any{
	"and": true, "or": true, "not": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"len": true, "index": true, "print": true, "printf": true, "println": true,
}

// Parse parses one template, named name, with the templates it defines.
func Parse(name, text string, o Options) (*Template, error) {
	return ParseSet(name, o, text)
}

// ParseSet parses several texts into one set, as text/template's ParseFiles or ParseFS do:
// the templates every text defines are merged, and name is the template Execute runs. A text
// that only defines templates contributes no body.
func ParseSet(name string, o Options, texts ...string) (*Template, error) {
	t := &Template{name: name, trees: map[string]*parse.Tree{}, o: o}
	for _, text := range texts {
		trees, err := parse.Parse(name, text, "", "", builtins)
		if err != nil {
			return nil, err
		}
		for n, tree := range trees {
			if old, ok := t.trees[n]; ok && parse.IsEmptyTree(tree.Root) && !parse.IsEmptyTree(old.Root) {
				continue
			}
			t.trees[n] = tree
		}
	}
	if _, ok := t.trees[name]; !ok {
		t.trees[name] = &parse.Tree{Name: name, ParseName: name, Root: &parse.ListNode{NodeType: parse.NodeList}}
	}
	for _, n := range slices.Sorted(maps.Keys(t.trees)) {
		if err := t.check(t.trees[n], t.trees[n].Root); err != nil {
			return nil, err
		}
	}
	if o.HTML {
		if err := t.checkHTML(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Must returns t, and panics on err: for templates that are part of the program.
func Must(t *Template, err error) *Template {
	if err != nil {
		panic(err)
	}
	return t
}

// Name is the name of the template Execute runs.
func (t *Template) Name() string { return t.name }

// String is the template's body as parse prints it (actions normalised, e.g. {{.Email}}).
func (t *Template) String() string { return t.trees[t.name].Root.String() }

// Execute runs the template on data and writes what it renders to w.
func (t *Template) Execute(w io.Writer, data any) error {
	return t.ExecuteTemplate(w, t.name, data)
}

// ExecuteTemplate runs the template called name, defined in t, on data.
func (t *Template) ExecuteTemplate(w io.Writer, name string, data any) error {
	tree, ok := t.trees[name]
	if !ok {
		return fmt.Errorf("template: no template %q associated with template %q", name, t.name)
	}
	return t.run(w, tree, data)
}

// check refuses what the executor does not run: break, continue, and method calls the parser
// accepts as fields with arguments are found only when run; break and continue now.
func (t *Template) check(tree *parse.Tree, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := t.check(tree, c); err != nil {
				return err
			}
		}
	case *parse.BreakNode, *parse.ContinueNode:
		loc, _ := tree.ErrorContext(n)
		return fmt.Errorf("template: %s: {{break}} and {{continue}} are not supported", loc)
	case *parse.IfNode:
		return t.checkBranch(tree, &n.BranchNode)
	case *parse.WithNode:
		return t.checkBranch(tree, &n.BranchNode)
	case *parse.RangeNode:
		return t.checkBranch(tree, &n.BranchNode)
	}
	return nil
}

func (t *Template) checkBranch(tree *parse.Tree, b *parse.BranchNode) error {
	if err := t.check(tree, b.List); err != nil {
		return err
	}
	return t.check(tree, b.ElseList)
}

// ErrUnsupported is wrapped by the errors of what text/template runs and this package does
// not (see the package comment).
var ErrUnsupported = errors.New("not supported in accessbot templates")

// Fields lists the names of the fields the template and the templates it defines read from
// dot or from $, such as "Email" for {{.Email}} or {{$.Email}}, sorted and without repeats.
func (t *Template) Fields() []string {
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			seen[n.Ident[0]] = true
		case *parse.VariableNode:
			if len(n.Ident) > 1 {
				seen[n.Ident[1]] = true
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tree := range t.trees {
		walk(tree.Root)
	}
	return slices.Sorted(maps.Keys(seen))
}

// errorf builds an error as text/template words its execution errors.
func errorf(tree *parse.Tree, n parse.Node, format string, args ...any) error {
	if n == nil {
		return fmt.Errorf("template: %s: %w", tree.ParseName, fmt.Errorf(format, args...))
	}
	loc, ctx := tree.ErrorContext(n)
	return fmt.Errorf("template: %s: executing %q at <%s>: %w", loc, tree.Name, ctx, fmt.Errorf(format, args...))
}
