package audit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// memSource is an in-memory audit.Source with the same filter semantics as storage.
type memSource struct {
	events []audit.Event
	head   audit.Head
}

// newChain seals n events.
func newChain(n int) *memSource {
	s := &memSource{head: audit.EmptyHead()}
	for i := 1; i <= n; i++ {
		s.append(audit.Event{
			At:        t0.Add(time.Duration(i) * time.Minute),
			Type:      audit.RequestCreated,
			Actor:     fmt.Sprintf("user%d@example.com", i%3),
			Resource:  []string{"prod-db", "ssh"}[i%2],
			Subject:   fmt.Sprintf("user%d@example.com", i%3),
			RequestID: fmt.Sprintf("r%d", i),
			Data:      map[string]string{"reason": fmt.Sprintf("INC-%d", i)},
		})
	}
	return s
}

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func (s *memSource) append(e audit.Event) {
	e = audit.Seal(s.head, e)
	s.events = append(s.events, e)
	s.head = audit.Head{Seq: e.Seq, Hash: e.Hash}
}

func (s *memSource) AuditHead(context.Context) (audit.Head, error) { return s.head, nil }

func (s *memSource) ScanAudit(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	for _, e := range s.events {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case e.Seq <= f.AfterSeq,
			f.MaxSeq != 0 && e.Seq > f.MaxSeq,
			!f.Since.IsZero() && e.At.Before(f.Since),
			!f.Until.IsZero() && !e.At.Before(f.Until),
			f.Resource != "" && e.Resource != f.Resource,
			f.Subject != "" && e.Subject != f.Subject:
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
