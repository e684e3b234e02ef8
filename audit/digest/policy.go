package digest

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// SectionPolicy is the key of the "policy changes" section.
const SectionPolicy = "policy"

// EventsOfType is a log that finds the events of one type in a window by a query on their
// type (storage's (type, at) index), so a section about a rare event reads only those events
// whatever the size of the window.
type EventsOfType interface {
	// ScanAuditOfType calls fn for every event of type typ that f selects by time and
	// sequence number, in sequence order.
	ScanAuditOfType(ctx context.Context, typ string, f audit.Filter, fn func(audit.Event) error) error
}

// PolicyChanges are the config.changed events of the window: how the policy changed from one
// start to the next.
type PolicyChanges struct {
	// Starts counts the starts that changed the policy; Initial the ones that recorded it for
	// the first time (every key added).
	Starts, Initial int
	// Changes are the changes of the non-initial starts, in order; at most Options.Limit.
	Changes []PolicyChange
	// Count counts them all.
	Count int
}

// PolicyChange is one key changed at one start.
type PolicyChange struct {
	At time.Time
	audit.ConfigChange
}

// policyChanges reads the window's config.changed events when src can find them by type; nil
// when it cannot.
func policyChanges(ctx context.Context, src audit.Source, since, until time.Time, maxSeq int64, o Options) (*PolicyChanges, error) {
	bt, ok := src.(EventsOfType)
	if !ok || maxSeq == 0 {
		return nil, nil
	}
	pc := &PolicyChanges{}
	f := audit.Filter{Since: since, Until: until, MaxSeq: maxSeq}
	err := bt.ScanAuditOfType(ctx, audit.ConfigChanged, f, func(e audit.Event) error {
		p, err := audit.Decode[audit.ConfigChangedData](e)
		if err != nil {
			return err
		}
		pc.Starts++
		if p.Initial {
			pc.Initial++
			return nil
		}
		for _, c := range p.Changes {
			pc.Count++
			if len(pc.Changes) < o.Limit {
				pc.Changes = append(pc.Changes, PolicyChange{At: e.At.In(o.Location), ConfigChange: c})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy changes: %w", err)
	}
	return pc, nil
}

// policySections is the "policy changes" section when the window has any; none otherwise, so a
// digest of an unchanged policy reads as before.
func (d Digest) policySections() []Section {
	pc := d.Policy
	if pc == nil || pc.Starts == 0 {
		return nil
	}
	s := Section{Key: SectionPolicy, Title: "Policy changes", Attention: pc.Count > 0}
	s.Summary = fmt.Sprintf("%s changed the policy: %s.", plural(pc.Starts, "start", "starts"),
		plural(pc.Count, "key changed", "keys changed"))
	if pc.Initial > 0 {
		s.Summary += " The policy in force was recorded for the first time (accessbot policy report shows it)."
	}
	for _, c := range pc.Changes {
		s.Items = append(s.Items, when(c.At)+" "+c.String())
	}
	s.More = pc.Count - len(pc.Changes)
	return []Section{s}
}
