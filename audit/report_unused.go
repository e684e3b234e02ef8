package audit

import (
	"context"
	"fmt"
	"slices"
)

// The report's "Grants never used" section: grants of the period, of a resource whose adapter
// samples sessions (ReportOptions.Sampled), with no activity.session_seen. It is asked of the
// store by SQL (UnusedSource) once the log has been read, never gathered by the model.

// maxUnusedRows bounds the section's rows; the heading keeps the exact count.
const maxUnusedRows = 5000

// unusedRows fills the section when the source can answer and a resource can tell; the section
// is left out otherwise (b.unusedShown false).
func (b *reportBuilder) unusedRows(ctx context.Context, src Source) error {
	us, ok := src.(UnusedSource)
	resources := b.o.Sampled
	if b.f.Resource != "" {
		resources = nil
		if slices.Contains(b.o.Sampled, b.f.Resource) {
			resources = []string{b.f.Resource}
		}
	}
	if !ok || len(b.o.Sampled) == 0 {
		return nil
	}
	b.unusedShown = true
	if len(resources) == 0 {
		return nil
	}
	until := b.f.Until
	if until.IsZero() {
		until = b.o.Now
	}
	gs, total, err := us.UnusedGrants(ctx, UnusedQuery{Since: b.f.Since, Until: until, Resources: resources, Limit: maxUnusedRows})
	if err != nil {
		return fmt.Errorf("grants never used: %w", err)
	}
	person := b.f.Subject
	if person == "" {
		person = b.f.Person
	}
	if person == "" {
		b.unusedTotal = total
	}
	for _, g := range gs {
		if person != "" && g.Subject != person {
			continue
		}
		if person != "" {
			b.unusedTotal++
		}
		err := b.writeRow(&b.unusedOut, func(w *htmlRow) {
			w.s("\n<tr data-grant=\"").e(g.GrantID).s("\"><td>").e(g.GrantID).s("</td><td>").e(g.Resource).
				s("</td><td>").e(g.Subject).s("</td><td>").t(g.Start).s("</td><td>").t(g.End).s("</td><td>").
				s(fmtDur(g.End.Sub(g.Start))).s("</td></tr>")
		})
		if err != nil {
			return err
		}
	}
	return nil
}
