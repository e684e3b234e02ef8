package grants

import (
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/parser"
)

// What rules see of the on-call rotas: `oncall` (the requester is on call now on some
// configured rota) and `oncall_for("pagerduty:schedule/PABC")`, a macro for
// `"pagerduty:schedule/PABC" in oncall_schedules`, so that the per-request answer is one list
// variable and no function needs state. The on-call Lookup (package oncall) finds the rotas
// the requester is on call on and reports them in its check's Attrs (CheckAttrRequesterOnCall);
// a rota that could not be asked counts as "not on call": an outage never grants by itself.

// CheckKindOnCall is the kind of the on-call check.
const CheckKindOnCall = "oncall"

// CheckAttrRequesterOnCall is the on-call check's attribute that lists, space-separated, the
// rotas the requester is on call on now.
const CheckAttrRequesterOnCall = "requester_on_call"

// onCallOf returns the rotas the requester is on call on, from the passed on-call checks.
func onCallOf(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if c.Kind == CheckKindOnCall && c.Status == CheckPassed {
			out = append(out, strings.Fields(c.Attrs[CheckAttrRequesterOnCall])...)
		}
	}
	return out
}

// onCallLib is what rules see of the rotas, as one CEL library of the rule environment.
type onCallLib struct{ rotas *[]string }

func (l onCallLib) CompileOptions() []cel.EnvOption { return onCallRuleOptions(l.rotas) }

func (onCallLib) ProgramOptions() []cel.ProgramOption { return nil }

// onCallRuleOptions declares `oncall`, `oncall_schedules` and the `oncall_for` macro; every
// rota a rule names through oncall_for is appended to *named, so that the config can check
// that it is one (CompileCondition has no knowledge of the providers).
func onCallRuleOptions(named *[]string) []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable("oncall", cel.BoolType),
		cel.Variable("oncall_schedules", cel.ListType(cel.StringType)),
		cel.Macros(cel.GlobalMacro("oncall_for", 1, func(eh parser.ExprHelper, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
			arg := args[0]
			if arg.Kind() != ast.LiteralKind || arg.AsLiteral().Type() != types.StringType {
				return nil, eh.NewError(arg.ID(), `oncall_for takes a rota name in quotes, e.g. oncall_for("pagerduty:schedule/PABC123")`)
			}
			*named = append(*named, arg.AsLiteral().Value().(string))
			return eh.NewCall(operators.In, arg, eh.NewIdent("oncall_schedules")), nil
		})),
	}
}

// addOnCall sets the on-call variables of a rule's activation from the rotas the requester is
// on call on.
func addOnCall(act map[string]any, onCall []string) {
	if onCall == nil {
		onCall = []string{}
	}
	act["oncall"] = len(onCall) > 0
	act["oncall_schedules"] = onCall
}
