// Package oncall makes approvals follow the on-call rota: approver groups that name a PagerDuty
// schedule or escalation-policy level, or an Opsgenie schedule (see Rota), whose members are
// the people on call now, matched to accessbot people by email.
//
// It owns three pieces the grants domain asks through its own interfaces: a Directory layer in
// front of the config's and the platforms' (grants.Directory, and grants.RequestDirectory so
// that when the requester is the one on call at an escalation level the next level counts), a
// grants.Lookup that puts who is on call on the approval card, calls on them, and tells rules
// whether the requester is on call (CEL `oncall`, `oncall_for`), and a readiness check that the
// configured rotas exist. Who is on call is fetched through a Provider (oncall/pagerduty,
// oncall/opsgenie), cached briefly, one fetch shared by concurrent callers, each with a
// deadline. An outage never grants by itself: a rota that cannot be asked has no members and
// the requester is not on call.
package oncall
