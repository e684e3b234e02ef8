package grants

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// Rule is a compiled auto-approve expression in CEL. It sees:
//
//	requester  string        the person's ID (their email when known)
//	groups     list(string)  the config groups the person belongs to
//	resource   string        the resource name
//	duration   duration      how long the access is asked for
//	reason     string        the reason given
//	hour       int           the hour of day (0-23) in the configured time zone
//	weekday    int           the day of the week, 0 = Sunday
//	now        timestamp     the current time
//	signals    Signals       the request's misuse signals: signals.first_access, ... (Signals)
//	ticket     TicketFacts   the ticket the reason names: ticket.status, .priority, .project, .key
//	oncall     bool          the requester is on call now on a configured rota (oncallrule.go)
//	oncall_for("<rota>")     the requester is on call now on that rota
//
// and must return a bool, e.g. `duration <= duration("1h") && hour >= 9 && hour < 18`. A
// misspelt signal is an error when the rule is compiled, not a silent "no" later.
type Rule struct {
	Source string
	// OnCallRotas are the rotas the rule names through oncall_for, for the config to check.
	OnCallRotas []string
	program     cel.Program
}

// RuleInput is what a Rule is evaluated over.
type RuleInput struct {
	Requester string
	Groups    []string
	Resource  string
	Duration  time.Duration
	Reason    string
	Now       time.Time // already in the configured time zone
	Signals   Signals
	// Checks are the request's outside checks (Lookup); what a rule sees of them is declared
	// by the variables of each kind.
	Checks []Check
	// OnCall are the rotas the requester is on call on now (from the on-call check).
	OnCall []string
}

func ruleEnv(rotas *[]string) (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("requester", cel.StringType),
		cel.Variable("groups", cel.ListType(cel.StringType)),
		cel.Variable("resource", cel.StringType),
		cel.Variable("duration", cel.DurationType),
		cel.Variable("reason", cel.StringType),
		cel.Variable("hour", cel.IntType),
		cel.Variable("weekday", cel.IntType),
		cel.Variable("now", cel.TimestampType),
		ext.NativeTypes(ext.ParseStructTags(true), reflect.TypeFor[Signals](), reflect.TypeFor[TicketFacts]()),
		cel.Variable("signals", cel.ObjectType("grants.Signals")),
		cel.Variable("ticket", cel.ObjectType("grants.TicketFacts")),
		cel.Lib(onCallLib{rotas}),
	)
}

// CompileRule compiles and type-checks an auto-approve expression; it must yield a bool.
func CompileRule(src string) (*Rule, error) { return CompileCondition("auto-approve rule", src) }

// CompileCondition compiles and type-checks a CEL condition over what a Rule sees (an
// auto-approve rule, a require_approvals condition, an alert's condition); it must yield a bool.
// what names it in errors.
func CompileCondition(what, src string) (*Rule, error) {
	var rotas []string
	env, err := ruleEnv(&rotas)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%s: %w", what, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("%s must be a bool expression, not %s", what, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &Rule{Source: src, OnCallRotas: rotas, program: prg}, nil
}

// Eval runs the rule. An evaluation error (a missing key, say) counts as "no": auto-approval
// only happens when the rule clearly says yes.
func (r *Rule) Eval(in RuleInput) (bool, error) {
	groups := in.Groups
	if groups == nil {
		groups = []string{}
	}
	if in.Signals.Raised == nil {
		in.Signals.Raised = []string{}
	}
	act := map[string]any{
		"requester": in.Requester,
		"groups":    groups,
		"resource":  in.Resource,
		"duration":  in.Duration,
		"reason":    in.Reason,
		"hour":      int64(in.Now.Hour()),
		"weekday":   int64(in.Now.Weekday()),
		"now":       in.Now,
		"signals":   in.Signals,
		"ticket":    ticketFacts(in.Checks),
	}
	addOnCall(act, in.OnCall)
	out, _, err := r.program.Eval(act)
	if err != nil {
		return false, fmt.Errorf("evaluate rule %q: %w", r.Source, err)
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}
