package bot

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
)

// EmailInDomains reports whether email passes an identity policy's email_domains: true when
// domains is empty, else when email has an "@" and its domain is one of them (domains are
// lowercase, without "@"; email is already lowercase).
func EmailInDomains(domains []string, email string) bool {
	if len(domains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(email, "@")
	return ok && slices.Contains(domains, domain)
}

// RefusalEvery is how often one refused user's attempts are written to the audit log: a
// refused guest clicking a hundred times is one event a minute, not a hundred.
const RefusalEvery = time.Minute

// maxRefusalUsers bounds the memory of who was recorded lately.
const maxRefusalUsers = 10_000

// Refusals records a platform's identity.refused events (people its identity policy does not
// accept), at most one per user and reason per RefusalEvery.
type Refusals struct {
	platform string
	audit    AuditLog
	clock    clock.Clock
	log      zerolog.Logger

	mu   sync.Mutex
	last map[string]time.Time
}

// NewRefusals returns the recorder of one platform's refusals; with a nil audit log it records
// nothing.
func NewRefusals(platform string, a AuditLog, c clock.Clock, log zerolog.Logger) *Refusals {
	return &Refusals{platform: platform, audit: a, clock: c, log: log, last: map[string]time.Time{}}
}

// Record appends e, the identity.refused event of the platform's user userID refused for the
// reason refused (an audit.Refused* value), unless the same was recorded within RefusalEvery.
func (r *Refusals) Record(ctx context.Context, userID, refused string, e audit.Event) {
	if r.audit == nil {
		return
	}
	now := r.clock.Now()
	key := userID + "/" + refused
	r.mu.Lock()
	if at, ok := r.last[key]; ok && now.Sub(at) < RefusalEvery {
		r.mu.Unlock()
		return
	}
	if len(r.last) >= maxRefusalUsers {
		for k, at := range r.last {
			if now.Sub(at) >= RefusalEvery {
				delete(r.last, k)
			}
		}
		if len(r.last) >= maxRefusalUsers {
			r.last = map[string]time.Time{}
		}
	}
	r.last[key] = now
	r.mu.Unlock()
	e.At = now
	if _, err := r.audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error().Err(err).Str(r.platform+"_user", userID).Msg("could not record identity.refused")
	}
}
