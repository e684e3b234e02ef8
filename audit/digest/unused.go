package digest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// SectionUnused is the key of the grants that were never used.
const SectionUnused = "unused"

// Unused are the grants that ended in the window and were never used: access asked for but not
// needed. Only grants of the resources whose adapter samples sessions (Options.Sampled) can be
// listed; the others cannot tell.
type Unused struct {
	// Sampled are the resources that can tell, in the order Options gave them; empty means the
	// section is left out.
	Sampled []string
	// Grants are the unused grants, oldest revocation first, at most Options.Limit.
	Grants []audit.UnusedGrant
	// Count counts them all.
	Count int
}

// buildUnused asks the source for the unused grants by SQL (audit.UnusedSource); a source that
// cannot answer leaves the section out.
func buildUnused(ctx context.Context, src audit.Source, d *Digest, o Options) error {
	us, ok := src.(audit.UnusedSource)
	if !ok || len(o.Sampled) == 0 {
		return nil
	}
	gs, n, err := us.UnusedGrants(ctx, audit.UnusedQuery{Since: d.Since, Until: d.Until, Resources: o.Sampled, Limit: o.Limit})
	if err != nil {
		return fmt.Errorf("grants never used: %w", err)
	}
	d.Unused = Unused{Sampled: o.Sampled, Grants: gs, Count: n}
	return nil
}

// unusedSection lists the grants never used; nil when no resource can tell.
func (d Digest) unusedSection() []Section {
	u := d.Unused
	if len(u.Sampled) == 0 {
		return nil
	}
	s := Section{Key: SectionUnused, Title: "Grants never used"}
	if u.Count == 0 {
		s.Summary = "None: every grant that ended was used."
		return []Section{s}
	}
	s.Summary = fmt.Sprintf("%s ended with no session seen at the target (only resources that can tell: %s).",
		plural(u.Count, "grant", "grants"), strings.Join(u.Sampled, ", "))
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	for _, g := range u.Grants {
		s.Items = append(s.Items, fmt.Sprintf("%s on %s, %s to %s (%s)", g.Subject, g.Resource,
			when(g.Start.In(loc)), when(g.End.In(loc)), g.GrantID))
	}
	s.More = u.Count - len(u.Grants)
	return []Section{s}
}
