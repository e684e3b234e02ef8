package config

import (
	"github.com/accessbot/accessbot/grants"
)

// Defaults of the `limits:` section: far above what a person at work asks for, low enough that
// one person (a script gone wrong, a stolen account) cannot flood the approvers.
const (
	DefaultPendingPerPerson         = 5
	DefaultPendingPerResource       = 20
	DefaultRequestsPerPersonPerHour = 20
)

// Limits is the `limits:` section: how many requests people may make. They are counted from
// the database when a request is made (so replicas share them), and a request over one is
// refused with the limit and what to do, and recorded (request.refused, rate_limited). 0 turns
// a limit off. Break-glass is never refused by a limit (an emergency must go through; every use
// is alerted and reviewed) but counts towards requests_per_person_per_hour.
type Limits struct {
	// PendingPerPerson caps the requests one person has waiting for a decision, on every
	// resource. Default 5.
	PendingPerPerson int `yaml:"pending_per_person"`
	// PendingPerResource caps the requests, from everyone, waiting for a decision on one
	// resource. Default 20.
	PendingPerResource int `yaml:"pending_per_resource"`
	// RequestsPerPersonPerHour caps the requests (and extensions and break-glass uses) one
	// person makes in any hour. Default 20.
	RequestsPerPersonPerHour int `yaml:"requests_per_person_per_hour"`
}

func defaultLimits() Limits {
	return Limits{
		PendingPerPerson:         DefaultPendingPerPerson,
		PendingPerResource:       DefaultPendingPerResource,
		RequestsPerPersonPerHour: DefaultRequestsPerPersonPerHour,
	}
}

// GrantsLimits returns the limits as the grants Service takes them.
func (l Limits) GrantsLimits() grants.Limits {
	return grants.Limits{
		PendingPerPerson:   l.PendingPerPerson,
		PendingPerResource: l.PendingPerResource,
		PerPersonPerHour:   l.RequestsPerPersonPerHour,
	}
}

func (v *validator) limits() {
	l := v.c.Limits
	for _, f := range []struct {
		key string
		n   int
	}{
		{"limits.pending_per_person", l.PendingPerPerson},
		{"limits.pending_per_resource", l.PendingPerResource},
		{"limits.requests_per_person_per_hour", l.RequestsPerPersonPerHour},
	} {
		if f.n < 0 {
			v.add(f.key, "must be 0 (no limit) or more, got %d", f.n)
		}
	}
}
