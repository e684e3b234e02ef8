package deploy

import (
	"fmt"
	"strings"
)

// matcher is one label matcher of a selector: label op "value".
type matcher struct {
	label, op, value string
}

// selector is one metric named in an expression, with its label matchers.
type selector struct {
	name     string
	matchers []matcher
}

// notMetrics are PromQL's keywords, aggregation operators and functions that may stand
// without a parenthesis right after them (sum by (le) (...)); any other identifier not followed
// by "(" names a metric.
var notMetrics = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelLists are the keywords followed by a parenthesized list of label names, not an expression.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// selectors lists the metrics an expression names, with their matchers. It is a small
// tokenizer rather than Prometheus' parser, which would bring Prometheus into accessbot's
// go.mod; promtool, which has the parser, checks the same expressions' syntax.
func selectors(expr string) ([]selector, error) {
	var out []selector
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += end + 1
		case c == '$':
			// A Grafana variable ($__rate_interval) outside a range.
			i++
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case isIdent(c, true):
			start := i
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
			word := expr[start:i]
			j := i
			for j < len(expr) && (expr[j] == ' ' || expr[j] == '\n' || expr[j] == '\t') {
				j++
			}
			if labelLists[word] && j < len(expr) && expr[j] == '(' {
				end := strings.IndexByte(expr[j:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unclosed label list after %s", word)
				}
				i = j + end + 1
				continue
			}
			if notMetrics[strings.ToLower(word)] || j < len(expr) && expr[j] == '(' {
				continue
			}
			sel := selector{name: word}
			if j < len(expr) && expr[j] == '{' {
				ms, end, err := parseMatchers(expr, j)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", word, err)
				}
				sel.matchers, i = ms, end
			}
			out = append(out, sel)
		case c == '{':
			return nil, fmt.Errorf("a selector without a metric name at %d", i)
		default:
			i++
		}
	}
	return out, nil
}

// parseMatchers reads {label op "value", ...} starting at the brace; it returns the matchers
// and the index after the closing brace.
func parseMatchers(expr string, i int) ([]matcher, int, error) {
	var ms []matcher
	i++ // {
	for {
		for i < len(expr) && strings.ContainsRune(" ,\n\t", rune(expr[i])) {
			i++
		}
		if i >= len(expr) {
			return nil, 0, fmt.Errorf("unclosed {")
		}
		if expr[i] == '}' {
			return ms, i + 1, nil
		}
		start := i
		for i < len(expr) && isIdent(expr[i], false) {
			i++
		}
		m := matcher{label: expr[start:i]}
		for i < len(expr) && expr[i] == ' ' {
			i++
		}
		for _, op := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(expr[i:], op) {
				m.op = op
				i += len(op)
				break
			}
		}
		if m.label == "" || m.op == "" {
			return nil, 0, fmt.Errorf("bad label matcher at %d", start)
		}
		for i < len(expr) && expr[i] == ' ' {
			i++
		}
		end, err := skipString(expr, i)
		if err != nil {
			return nil, 0, err
		}
		m.value = strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(expr[i+1 : end-1])
		ms = append(ms, m)
		i = end
	}
}

// skipString returns the index after the string literal that starts at i.
func skipString(expr string, i int) (int, error) {
	if i >= len(expr) || !strings.ContainsRune("\"'`", rune(expr[i])) {
		return 0, fmt.Errorf("expected a quoted string at %d", i)
	}
	q := expr[i]
	for j := i + 1; j < len(expr); j++ {
		if expr[j] == '\\' && q != '`' {
			j++
			continue
		}
		if expr[j] == q {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d", i)
}

// isIdent reports whether c may be in a PromQL identifier (first: may start one).
func isIdent(c byte, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}
