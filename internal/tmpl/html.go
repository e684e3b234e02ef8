package tmpl

import (
	"fmt"
	"strings"
	"text/template/parse"
	"unicode/utf8"
)

// htmlReplacement is what html/template writes for each byte it escapes in text and in
// quoted attribute values: NUL, both quotes, &, < and >, and '+' (against UTF-7 sniffing).
var htmlReplacement = [...]string{
	0:    "\uFFFD",
	'"':  "&#34;",
	'&':  "&amp;",
	'\'': "&#39;",
	'+':  "&#43;",
	'<':  "&lt;",
	'>':  "&gt;",
}

// HTMLEscape escapes s for HTML text or a quoted attribute value, byte for byte as html/template
// escapes a string there.
func HTMLEscape(s string) string {
	if !NeedsHTMLEscape(s) {
		return s
	}
	return string(AppendHTMLEscape(make([]byte, 0, len(s)+16), s))
}

// NeedsHTMLEscape reports whether HTMLEscape would change s.
func NeedsHTMLEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if int(s[i]) < len(htmlReplacement) && htmlReplacement[s[i]] != "" {
			return true
		}
	}
	return false
}

// AppendHTMLEscape appends s to dst, escaped as HTMLEscape escapes it.
func AppendHTMLEscape(dst []byte, s string) []byte {
	written := 0
	for i := 0; i < len(s); {
		// Bytes of multi-byte runes and invalid bytes are all >= 0x80: none is replaced, and the
		// table covers ASCII only, so a byte-wise walk matches html/template's rune-wise one.
		c := s[i]
		if c < utf8.RuneSelf && int(c) < len(htmlReplacement) && htmlReplacement[c] != "" {
			dst = append(dst, s[written:i]...)
			dst = append(dst, htmlReplacement[c]...)
			written = i + 1
		}
		i++
	}
	return append(dst, s[written:]...)
}

// htmlState is where in a page the text so far has left the reader.
type htmlState int

const (
	inText        htmlState = iota // between tags
	inTagName                      // after '<', reading the element's name
	inTag                          // inside a tag, between attributes
	inAttrName                     // reading an attribute's name
	afterAttrName                  // after the name, before '=' or the next attribute
	beforeValue                    // after '='
	inValueQuoted                  // inside a quoted value
	inValueBare                    // inside an unquoted value
	inRawText                      // inside <script> or <style>: no action may appear
	inComment                      // inside <!-- -->
)

// htmlContext is a state with what it needs to know to continue: the element, the attribute,
// the quote.
type htmlContext struct {
	state htmlState
	elem  string
	attr  string
	quote byte
	// closing is whether the tag being read is an end tag.
	closing bool
}

// safeAttr reports whether an action may write an attribute's value: plain attributes only,
// as html/template classifies them (no URL, script, style or srcset; data- attributes by the
// rest of their name).
func safeAttr(name string) bool {
	name = strings.ToLower(name)
	name = strings.TrimPrefix(name, "data-")
	switch name {
	case "href", "src", "action", "formaction", "style", "srcset", "background", "cite", "codebase",
		"data", "longdesc", "manifest", "poster", "profile", "usemap", "icon", "classid", "archive", "xmlns":
		return false
	}
	return !strings.HasPrefix(name, "on") && !strings.Contains(name, ":") &&
		!strings.Contains(name, "src") && !strings.Contains(name, "uri") && !strings.Contains(name, "url")
}

// advance reads text from context c and returns the context after it.
func advance(c htmlContext, text []byte) htmlContext {
	for i := 0; i < len(text); i++ {
		b := text[i]
		switch c.state {
		case inText:
			if b == '<' {
				if strings.HasPrefix(string(text[i:]), "<!--") {
					c.state = inComment
					i += 3
					continue
				}
				c = htmlContext{state: inTagName}
			}
		case inComment:
			if strings.HasPrefix(string(text[i:]), "-->") {
				c.state = inText
				i += 2
			}
		case inTagName:
			switch {
			case b == '/' && c.elem == "":
				c.closing = true
			case isSpace(b):
				c.state = inTag
			case b == '>':
				c = endTag(c)
			default:
				c.elem += strings.ToLower(string(b))
			}
		case inTag, inAttrName, afterAttrName, beforeValue, inValueQuoted, inValueBare:
			c = advanceTag(c, b)
		case inRawText:
			end := "</" + c.elem
			if len(text)-i >= len(end) && strings.EqualFold(string(text[i:i+len(end)]), end) {
				c = htmlContext{state: inTagName, elem: c.elem, closing: true}
				i += len(end) - 1
			}
		}
	}
	return c
}

// advanceTag reads one byte inside a tag.
func advanceTag(c htmlContext, b byte) htmlContext {
	switch c.state {
	case inTag:
		switch {
		case b == '>':
			c = endTag(c)
		case isSpace(b) || b == '/':
		default:
			c.state, c.attr = inAttrName, string(b)
		}
	case inAttrName:
		switch {
		case b == '=':
			c.state = beforeValue
		case isSpace(b):
			c.state = afterAttrName
		case b == '>':
			c = endTag(c)
		default:
			c.attr += string(b)
		}
	case afterAttrName:
		switch {
		case b == '=':
			c.state = beforeValue
		case b == '>':
			c = endTag(c)
		case isSpace(b):
		default:
			c.state, c.attr = inAttrName, string(b)
		}
	case beforeValue:
		switch {
		case b == '"' || b == '\'':
			c.state, c.quote = inValueQuoted, b
		case isSpace(b):
		case b == '>':
			c = endTag(c)
		default:
			c.state = inValueBare
		}
	case inValueQuoted:
		if b == c.quote {
			c.state, c.attr, c.quote = inTag, "", 0
		}
	case inValueBare:
		switch {
		case isSpace(b):
			c.state, c.attr = inTag, ""
		case b == '>':
			c = endTag(c)
		}
	}
	return c
}

// endTag is the context after a tag's '>': the raw text of a script or style, else text
// (<title> and <textarea> hold text that html/template escapes as it escapes text).
func endTag(c htmlContext) htmlContext {
	if !c.closing && (c.elem == "script" || c.elem == "style") {
		return htmlContext{state: inRawText, elem: c.elem}
	}
	return htmlContext{state: inText}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }

// checkHTML walks the page from its start, through the templates it calls, and refuses an
// action outside text and quoted plain attribute values, and a branch (if, with, range) whose
// body leaves the page somewhere else than where it began: its value would then be escaped for
// the wrong place on one of the two paths.
func (t *Template) checkHTML() error {
	checked := map[string]bool{}
	var walk func(tree *parse.Tree, n parse.Node, c htmlContext) (htmlContext, error)
	walk = func(tree *parse.Tree, n parse.Node, c htmlContext) (htmlContext, error) {
		refuse := func(n parse.Node, what string) error {
			loc, ctx := tree.ErrorContext(n)
			return fmt.Errorf("template: %s: %s at <%s> %s in an HTML page: %w", loc, what, ctx, describe(c), ErrUnsupported)
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return c, nil
			}
			for _, x := range n.Nodes {
				var err error
				if c, err = walk(tree, x, c); err != nil {
					return c, err
				}
			}
			return c, nil
		case *parse.TextNode:
			c2 := advance(c, n.Text)
			if c2.state == inComment || c.state == inComment {
				return c2, refuse(n, "an HTML comment")
			}
			return c2, nil
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				return c, nil
			}
			if c.state == inText || c.state == inValueQuoted && safeAttr(c.attr) {
				return c, nil
			}
			return c, refuse(n, "an action")
		case *parse.IfNode, *parse.WithNode, *parse.RangeNode:
			var b *parse.BranchNode
			switch n := n.(type) {
			case *parse.IfNode:
				b = &n.BranchNode
			case *parse.WithNode:
				b = &n.BranchNode
			case *parse.RangeNode:
				b = &n.BranchNode
			}
			for _, l := range []*parse.ListNode{b.List, b.ElseList} {
				after, err := walk(tree, l, c)
				if err != nil {
					return c, err
				}
				if after.state != c.state || after.attr != c.attr {
					return c, refuse(n, "a branch that ends elsewhere than it began")
				}
			}
			return c, nil
		case *parse.TemplateNode:
			called, ok := t.trees[n.Name]
			if !ok {
				return c, refuse(n, "a template that is not defined")
			}
			if c.state != inText && c.state != inRawText {
				return c, refuse(n, "a template call")
			}
			key := fmt.Sprint(n.Name, c.state, c.elem)
			if checked[key] {
				return c, nil
			}
			checked[key] = true
			after, err := walk(called, called.Root, c)
			if err != nil {
				return c, err
			}
			if after.state != c.state {
				return c, refuse(n, "a template that ends elsewhere than it began")
			}
			return c, nil
		}
		return c, nil
	}
	// Every template is checked from text, the place each of accessbot's pages starts and where
	// each of its parts (a section's start or end) is written.
	for name, tree := range t.trees {
		key := fmt.Sprint(name, inText, "")
		if checked[key] {
			continue
		}
		checked[key] = true
		if _, err := walk(tree, tree.Root, htmlContext{state: inText}); err != nil {
			return err
		}
	}
	return nil
}

func describe(c htmlContext) string {
	switch c.state {
	case inText:
		return "in text"
	case inValueQuoted, inValueBare, beforeValue:
		return fmt.Sprintf("in the value of attribute %q", c.attr)
	case inRawText:
		return fmt.Sprintf("inside <%s>", c.elem)
	case inComment:
		return "in a comment"
	}
	return "inside a tag"
}
