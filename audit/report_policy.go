package audit

import (
	"slices"
	"strings"
	"time"
)

// policyInForce folds the log's config.changed events into the policy of the report's period:
// every event before the period start applied in order gives the snapshot in force when it
// began (the first start recorded it whole, as "initial"); the events in the period are its
// changes. Only values the log holds are shown, so no secret (a secret key reads "(secret)").
type policyInForce struct {
	// seen says the log has config.changed events at all; before that the page keeps to
	// config.loaded hashes.
	seen    bool
	atStart map[string]string
	// startKnown says an event before the period gave atStart.
	startKnown bool
	changes    []policyChangeRow
}

// policyChangeRow is one key changed at one start during the period.
type policyChangeRow struct {
	at     time.Time
	change ConfigChange
}

// addConfigChange takes a config.changed event: before the period it moves the policy in force
// at its start; in the period it is one of its changes. Events after the period are left out.
func (b *reportBuilder) addConfigChange(e *Event, _ bool) error {
	p, _ := Decode[ConfigChangedData](*e)
	pf := &b.policy
	pf.seen = true
	switch {
	case !b.f.Since.IsZero() && e.At.Before(b.f.Since):
		if p.Initial {
			pf.atStart = nil // a log that started over records the whole policy again
		}
		pf.atStart = ApplyConfigChanges(pf.atStart, p.Changes)
		pf.startKnown = true
	case b.inPeriod(e.At):
		for _, c := range p.Changes {
			pf.changes = append(pf.changes, policyChangeRow{at: e.At, change: c})
		}
	}
	return nil
}

// policyView is the policy section of the page.
type policyView struct {
	Shown bool
	// StartKnown says the policy at the period's start is known from the log.
	StartKnown bool
	Resources  []policyResourceView
	Changes    []policyChangeView
}

// policyResourceView is one resource's effective policy when the period began.
type policyResourceView struct {
	Name, Requesters, Approvers, Approvals, AutoApprove, BreakGlass, MaxDuration, StepUp string
}

type policyChangeView struct{ At, Change string }

// view is the section as the page shows it.
func (pf *policyInForce) view() policyView {
	v := policyView{Shown: pf.seen, StartKnown: pf.startKnown}
	byRes := map[string]map[string]string{}
	for k, val := range pf.atStart {
		rest, ok := strings.CutPrefix(k, "policy.")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '.')
		if i < 0 {
			continue
		}
		res, field := rest[:i], rest[i+1:]
		if byRes[res] == nil {
			byRes[res] = map[string]string{}
		}
		byRes[res][field] = val
	}
	names := make([]string, 0, len(byRes))
	for n := range byRes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := byRes[n]
		req := strings.Trim(strings.Join([]string{f["requester_groups"], f["requesters"]}, "; "), "; ")
		if req == "" {
			req = "everyone"
		}
		v.Resources = append(v.Resources, policyResourceView{Name: n, Requesters: req, Approvers: f["approvers"],
			Approvals: f["approvals"], AutoApprove: f["auto_approve"], BreakGlass: f["break_glass"],
			MaxDuration: f["max_duration"], StepUp: f["step_up"]})
	}
	for _, c := range pf.changes {
		v.Changes = append(v.Changes, policyChangeView{At: fmtTime(c.at), Change: c.change.String()})
	}
	return v
}
