// Package policyaudit owns the policy audit: what each resource's policy lets people do (who
// may request, who approves and how many, auto-approval, break-glass, the longest grant, the
// second lock of a step-up login), the warnings a reviewer should act on, and the redacted,
// semantic snapshot of the config whose differences from one start to the next go into the
// audit log as config.changed. It reads only the config: `accessbot policy report` needs no
// database.
package policyaudit

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

// Report is the policy of every resource in a config, with the warnings found in it.
type Report struct {
	// File and ConfigSHA256 say which config was read (the hash is of the file before ${...}
	// expansion, as config.loaded records it).
	File         string
	ConfigSHA256 string
	// Admins are who review break-glass access (admins.users and admins.groups, as written).
	Admins    []string
	Resources []Resource
}

// Warnings returns every resource's warnings, resource by resource.
func (r Report) Warnings() []Warning {
	var out []Warning
	for _, res := range r.Resources {
		out = append(out, res.Warnings...)
	}
	return out
}

// Resource is one resource's effective policy, as a reviewer reads it.
type Resource struct {
	Name, Description, Adapter string
	// Requesters are the people and groups who may request; Everyone when both lists are empty.
	Everyone        bool
	Requesters      []string
	RequesterGroups []Group
	// Approvers are the groups whose members approve; Approvals is how many distinct people
	// must.
	Approvers []Group
	Approvals int
	// AutoApprove is the CEL rule that approves without a reviewer; "" for none.
	AutoApprove string
	// BreakGlass says access may be taken at once and reviewed afterwards, by Admins.
	BreakGlass      bool
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	PendingTTL      time.Duration
	ReasonRequired  bool
	ReasonPattern   string
	// StepUp is the second lock: "oidc" when an approval counts only after the approver logs
	// in again at the identity provider; "" for none.
	StepUp   string
	Warnings []Warning
}

// Group is a group named in a policy with the members the config knows. A platform group
// (a Slack user group "@handle", a Discord role) is resolved by its platform at request time:
// Platform is true and Members is empty.
type Group struct {
	Name     string
	Members  []string
	Platform bool
}

// Warning codes.
const (
	// WarnTooFewApprovers: the approver groups hold fewer distinct people than the approvals a
	// request needs (one person when two are needed): no request can ever be approved, and
	// the pressure is to lower the bar or add anyone. Config validation refuses it when every
	// approver group is a config group; with a platform group beside them it counts the
	// people the config names and says the platform group must make up the rest.
	WarnTooFewApprovers = "too_few_approvers"
	// WarnNoApprovers: no approver group and no auto-approval; only break-glass gives access.
	WarnNoApprovers = "no_approvers"
	// WarnAutoApproveUnbounded: the auto-approve rule never looks at the duration, so any
	// request up to max_duration is granted with no one looking.
	WarnAutoApproveUnbounded = "auto_approve_unbounded"
	// WarnBreakGlassNoReviewer: break-glass is allowed but no admin can review its use.
	WarnBreakGlassNoReviewer = "breakglass_no_reviewer"
	// WarnApproversAreRequesters: the only approvers are people who may request it themselves,
	// so they approve one another's access with no one outside the circle.
	WarnApproversAreRequesters = "approvers_are_requesters"
	// WarnSelfApprovalBlocked: a requester is among the approvers and the others are fewer
	// than the approvals needed, so that person's requests can never be approved (nobody
	// approves their own).
	WarnSelfApprovalBlocked = "requester_cannot_be_approved"
	// WarnBreakGlassNoReason: break-glass with no reason required leaves the review with
	// nothing to check the access against.
	WarnBreakGlassNoReason = "breakglass_no_reason"
)

// Warning is one thing in a resource's policy a reviewer should look at.
type Warning struct {
	Resource string
	Code     string
	// Message says it in one sentence.
	Message string
}

// Build reads the policy of every resource in c, effective policies with defaults merged.
func Build(c *config.Config) Report {
	r := Report{File: c.File(), ConfigSHA256: c.Hash()}
	r.Admins = append(slices.Clone(c.Admins.Users), prefixed("group:", c.Admins.Groups)...)
	for i := range c.Resources {
		rc := &c.Resources[i]
		p := rc.EffectivePolicy()
		res := Resource{
			Name: rc.Name, Description: rc.Description, Adapter: rc.Adapter.Type,
			Everyone:        len(p.Requesters) == 0 && len(p.RequesterGroups) == 0,
			Requesters:      canonicalAll(p.Requesters),
			RequesterGroups: groups(c, p.RequesterGroups),
			Approvers:       groups(c, p.ApproverGroups),
			Approvals:       p.Approvals,
			BreakGlass:      p.BreakGlass,
			DefaultDuration: p.DefaultDuration,
			MaxDuration:     p.MaxDuration,
			PendingTTL:      p.PendingTTL,
			ReasonRequired:  p.ReasonRequired,
			StepUp:          rc.StepUp,
		}
		if p.AutoApprove != nil {
			res.AutoApprove = p.AutoApprove.Source
		}
		if p.ReasonPattern != nil {
			res.ReasonPattern = p.ReasonPattern.String()
		}
		res.Warnings = warn(c, res)
		r.Resources = append(r.Resources, res)
	}
	return r
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, prefix+n)
	}
	return out
}

func canonicalAll(people []string) []string {
	out := make([]string, 0, len(people))
	for _, p := range people {
		out = append(out, grants.CanonicalEntry(p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// groups resolves group names against the config's groups; platform groups stay unresolved.
func groups(c *config.Config, names []string) []Group {
	out := make([]Group, 0, len(names))
	for _, n := range names {
		g := Group{Name: n, Platform: config.IsPlatformGroup(n)}
		if !g.Platform {
			g.Members = canonicalAll(c.Groups[n])
		}
		out = append(out, g)
	}
	return out
}

// people returns the distinct members of gs the config knows, and whether any group is a
// platform group whose members it does not.
func people(gs []Group) (members []string, unresolved bool) {
	for _, g := range gs {
		members = append(members, g.Members...)
		unresolved = unresolved || g.Platform
	}
	slices.Sort(members)
	return slices.Compact(members), unresolved
}

// durationRef finds the rule's use of the request's duration: an identifier, not a word inside
// a string literal the rule compares against (a rough cut that errs towards warning).
var durationRef = regexp.MustCompile(`(^|[^A-Za-z0-9_."'])duration([^A-Za-z0-9_"']|$)`)

// warn finds what a reviewer of res should look at.
func warn(c *config.Config, res Resource) []Warning {
	var out []Warning
	add := func(code, msg string) {
		out = append(out, Warning{Resource: res.Name, Code: code, Message: msg})
	}
	approvers, unresolved := people(res.Approvers)
	requesters, requestersUnresolved := people(res.RequesterGroups)
	requesters = append(requesters, res.Requesters...)
	slices.Sort(requesters)
	requesters = slices.Compact(requesters)

	switch {
	case len(res.Approvers) == 0 && res.AutoApprove == "":
		add(WarnNoApprovers, "no approver group and no auto-approve rule: requests can never be approved")
	case !unresolved && len(approvers) < res.Approvals:
		// config validation refuses this for config groups; it is here for what reaches it
		// another way (one person under two spellings).
		add(WarnTooFewApprovers, plural(len(approvers), "person", "people")+" in the approver groups ("+
			listOrNone(approvers)+") but "+itoa(res.Approvals)+" approvals are needed: no request can ever be approved")
	case unresolved && len(approvers) < res.Approvals:
		add(WarnTooFewApprovers, "the config names "+plural(len(approvers), "person", "people")+" among the approvers ("+
			listOrNone(approvers)+") but "+itoa(res.Approvals)+" approvals are needed: unless the platform groups add "+
			"enough others, no request can ever be approved")
	}
	if res.AutoApprove != "" && !durationRef.MatchString(res.AutoApprove) {
		add(WarnAutoApproveUnbounded, "the auto-approve rule never looks at the duration: any request up to "+
			formatDuration(res.MaxDuration)+" is granted without anyone looking")
	}
	if res.BreakGlass {
		if !hasReviewer(c) {
			add(WarnBreakGlassNoReviewer, "break-glass is allowed but admins name no one who can review its use")
		}
		if !res.ReasonRequired {
			add(WarnBreakGlassNoReason, "break-glass is allowed without a reason: its review has nothing to check the access against")
		}
	}
	// Only when everyone who approves is known: an unknown platform member may be independent.
	if !res.Everyone && !unresolved && !requestersUnresolved && len(approvers) > 0 && subset(approvers, requesters) {
		add(WarnApproversAreRequesters, "the only approvers ("+listOrNone(approvers)+
			") may request it themselves: they approve one another's access with no one outside the circle")
	}
	if !unresolved && len(approvers) >= res.Approvals {
		// With enough approvers overall, one who asks leaves the others: are they enough?
		var blocked []string
		for _, p := range approvers {
			if (res.Everyone || slices.Contains(requesters, p)) && len(approvers)-1 < res.Approvals {
				blocked = append(blocked, p)
			}
		}
		if len(blocked) > 0 {
			add(WarnSelfApprovalBlocked, listOrNone(blocked)+" may request it but the other approvers are fewer than the "+
				itoa(res.Approvals)+" approvals needed (nobody approves their own request)")
		}
	}
	return out
}

// hasReviewer reports whether the config's admins name anyone: a user, a config group with
// members, or a platform group (whose members the platform knows).
func hasReviewer(c *config.Config) bool {
	if len(c.Admins.Users) > 0 {
		return true
	}
	for _, g := range c.Admins.Groups {
		if config.IsPlatformGroup(g) || len(c.Groups[g]) > 0 {
			return true
		}
	}
	return false
}

func subset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
