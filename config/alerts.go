package config

import (
	"slices"
	"strings"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ident"
)

// AlertConfig is one entry of the `alerts:` section: a CEL condition over a new request and its
// misuse signals (what auto_approve sees, see grants.Rule). When it holds, an alert.raised event
// is written with the request and posted to each platform's security channel.
type AlertConfig struct {
	// Name names the alert in the event and the message: lowercase letters, digits and _.
	Name string `yaml:"name"`
	// When is the CEL condition, e.g. `signals.first_access && signals.outside_hours`.
	When string `yaml:"when"`
	// Severity is shown with the alert (low, medium, high, critical); empty for none.
	Severity string `yaml:"severity"`

	rule *grants.Rule
}

// RequireApprovalsConfig is a policy's `require_approvals:`: more approvers when a condition
// holds (grants.RequireApprovals).
type RequireApprovalsConfig struct {
	// When is a CEL condition like auto_approve's; "" clears a default.
	When string `yaml:"when"`
	// Approvals is how many approvers the request then needs. Default 2.
	Approvals *int `yaml:"approvals"`

	rule *grants.Rule
}

// defaultRequiredApprovals is require_approvals.approvals when it is not written.
const defaultRequiredApprovals = 2

var (
	alertName  = ident.New(`^[a-z0-9_]{1,64}$`, `^[a-z0-9_]+$`, 1, 64)
	severities = []string{"", "low", "medium", "high", "critical"}
)

// GrantsAlerts returns the alerts as the grants Service takes them.
func (c *Config) GrantsAlerts() []grants.AlertRule {
	var out []grants.AlertRule
	for _, a := range c.Alerts {
		if a.rule != nil {
			out = append(out, grants.AlertRule{Name: a.Name, Severity: a.Severity, When: a.rule})
		}
	}
	return out
}

// WorkingHours returns digest.working_hours as the grants Service takes them (for
// signals.outside_hours).
func (c *Config) WorkingHours() grants.WorkingHours {
	start, end := c.Digest.WorkHours()
	return grants.WorkingHours{Days: c.Digest.WorkDays(), Start: start, End: end}
}

func (v *validator) alerts() {
	seen := map[string]bool{}
	for i := range v.c.Alerts {
		a := &v.c.Alerts[i]
		path := joinIndex("alerts", i)
		switch {
		case !alertName.MatchString(a.Name):
			v.add(path+".name", "required: lowercase letters, digits and _ (up to 64), e.g. first_access_at_night")
		case slices.Contains(grants.BuiltinAlerts(), a.Name):
			v.add(path+".name", "%s is an alert accessbot raises itself; choose another name", v.quote(path+".name", a.Name))
		case seen[a.Name]:
			v.add(path+".name", "%s is used by another alert", v.quote(path+".name", a.Name))
		}
		seen[a.Name] = true
		if !slices.Contains(severities, a.Severity) {
			v.add(path+".severity", "unknown severity %s (use low, medium, high or critical)", v.quote(path+".severity", a.Severity))
		}
		if strings.TrimSpace(a.When) == "" {
			v.add(path+".when", "required: a CEL condition over the request and its signals, e.g. signals.first_access && signals.outside_hours")
			continue
		}
		rule, err := grants.CompileCondition("alert condition", a.When)
		if err != nil {
			v.add(path+".when", "%v", err)
			continue
		}
		a.rule = rule
	}
}

// requireApprovals checks and compiles a policy block's require_approvals.
func (v *validator) requireApprovals(path string, ra *RequireApprovalsConfig) {
	if ra.Approvals != nil && *ra.Approvals < 1 {
		v.add(path+".approvals", "must be at least 1, got %d", *ra.Approvals)
	}
	if strings.TrimSpace(ra.When) == "" {
		return
	}
	rule, err := grants.CompileCondition("require_approvals condition", ra.When)
	if err != nil {
		v.add(path+".when", "%v", err)
		return
	}
	v.ruleRotas(path+".when", rule)
	ra.rule = rule
}

// grantsRequireApprovals is ra as the policy takes it; nil when it has no condition.
func (ra *RequireApprovalsConfig) grantsRequireApprovals() *grants.RequireApprovals {
	if ra == nil || ra.rule == nil {
		return nil
	}
	n := defaultRequiredApprovals
	if ra.Approvals != nil {
		n = *ra.Approvals
	}
	return &grants.RequireApprovals{When: ra.rule, Approvals: n}
}
