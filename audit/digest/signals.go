package digest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// Section keys of the signals and volumes.
const (
	SectionSignals            = "signals"
	SectionRequestsByPerson   = "requests_by_person"
	SectionRequestsByResource = "requests_by_resource"
)

// SignalStore reads what the signals section needs by queries over the window's request.created
// events, not by a pass over every event of the window. storage.DB implements it; a Source that
// does not leaves the section empty.
type SignalStore interface {
	// SignalEvents calls fn for the request.created events of [since, until) that raised
	// misuse signals (it may pass others too: the digest decodes and checks), in order.
	SignalEvents(ctx context.Context, since, until time.Time, fn func(audit.Event) error) error
	// RequestVolumes counts the requests made in [since, until) by person and by resource.
	RequestVolumes(ctx context.Context, since, until time.Time) (byPerson, byResource map[string]int, err error)
}

// Signals are the requests of the window that raised misuse signals (first access, outside
// working hours, an unusual number of requests, ...: grants.Signals), and the volumes of
// requests by person and by resource.
type Signals struct {
	// Requests are the requests that raised any, in order; at most Options.Limit.
	Requests []SignalRequest
	// Count counts them all; ByName counts each signal, most first.
	Count  int
	ByName []Count
	// RequestsByPerson and RequestsByResource count the requests made, most first.
	RequestsByPerson, RequestsByResource []Count
	// Read is whether the source could answer (a SignalStore); without it the digest has none
	// of these sections.
	Read bool
}

// SignalRequest is one request that raised signals.
type SignalRequest struct {
	At                          time.Time
	Person, Resource, RequestID string
	// Signals are the names it raised (grants.SignalFirstAccess, ...).
	Signals []string
}

// buildSignals reads the window's signals and volumes from st.
func buildSignals(ctx context.Context, st SignalStore, since, until time.Time, o Options) (Signals, error) {
	var s Signals
	byName := map[string]int{}
	err := st.SignalEvents(ctx, since, until, func(e audit.Event) error {
		p, err := audit.Decode[audit.RequestCreatedData](e)
		if err != nil || p.Signals == nil || len(p.Signals.Raised) == 0 {
			return nil // an old event, or none raised: nothing to list
		}
		s.Count++
		for _, n := range p.Signals.Raised {
			byName[n]++
		}
		if len(s.Requests) < o.Limit {
			s.Requests = append(s.Requests, SignalRequest{At: e.At.In(o.Location), Person: e.Subject,
				Resource: e.Resource, RequestID: e.RequestID, Signals: p.Signals.Raised})
		}
		return nil
	})
	if err != nil {
		return Signals{}, fmt.Errorf("digest signals: %w", err)
	}
	s.ByName = sortedCounts(byName)
	byPerson, byResource, err := st.RequestVolumes(ctx, since, until)
	if err != nil {
		return Signals{}, fmt.Errorf("digest request volumes: %w", err)
	}
	s.RequestsByPerson, s.RequestsByResource = sortedCounts(byPerson), sortedCounts(byResource)
	s.Read = true
	return s, nil
}

// sortedCounts lists m most first, then by name.
func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for name, n := range m {
		out = append(out, Count{Name: name, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// signalLabels are how people read the signals' names (grants.SignalLabel; digest does not
// import grants).
var signalLabels = map[string]string{
	"first_access": "first access", "first_access_90d": "first access in 90 days",
	"outside_hours": "outside working hours", "high_volume": "unusual number of requests",
	"long_duration": "duration far above usual", "break_glass": "break-glass",
	"recent_denial": "denied in the last 24 h",
}

func signalLabel(name string) string {
	if l, ok := signalLabels[name]; ok {
		return l
	}
	return strings.ReplaceAll(name, "_", " ")
}

func (d Digest) signalsSection() Section {
	sg := d.Signals
	s := Section{Key: SectionSignals, Title: "Signals"}
	if sg.Count == 0 {
		s.Summary = "No request raised a signal."
		return s
	}
	var parts []string
	for _, c := range sg.ByName {
		parts = append(parts, fmt.Sprintf("%s %d", signalLabel(c.Name), c.N))
	}
	s.Summary = fmt.Sprintf("%s raised signals: %s.", plural(sg.Count, "request", "requests"), strings.Join(parts, ", "))
	for _, r := range sg.Requests {
		labels := make([]string, len(r.Signals))
		for i, n := range r.Signals {
			labels[i] = signalLabel(n)
		}
		s.Items = append(s.Items, fmt.Sprintf("%s %s for %s: %s (%s)", when(r.At), r.Person, r.Resource,
			strings.Join(labels, " · "), r.RequestID))
	}
	s.More = sg.Count - len(sg.Requests)
	s.Attention = true
	return s
}

// signalSections are the signals and request volumes, when the source could read them.
func (d Digest) signalSections() []Section {
	if !d.Signals.Read {
		return nil
	}
	return []Section{d.signalsSection(),
		d.countsSection(SectionRequestsByResource, "Requests by resource", d.Signals.RequestsByResource),
		d.countsSection(SectionRequestsByPerson, "Requests by person", d.Signals.RequestsByPerson)}
}
