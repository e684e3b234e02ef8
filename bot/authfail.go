package bot

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/flood"
)

// AuditLog records an audit event in its own transaction; *storage.DB is one.
type AuditLog interface {
	AppendAudit(ctx context.Context, e audit.Event) (audit.Event, error)
}

// AuthFailuresPerMinute bounds the audit events and log lines for refused requests, so that a
// flood of forged requests cannot flood the audit log; the rest are counted in the next one.
const AuthFailuresPerMinute = 30

// AuthFailures records the inbound requests a platform's endpoint refused (a bad signature, a
// stale timestamp, a replay): a log line and an auth.failed audit event, at most
// AuthFailuresPerMinute a minute, never the body or the signature.
type AuthFailures struct {
	platform string
	audit    AuditLog
	clock    clock.Clock
	log      zerolog.Logger

	gate flood.Gate
}

// NewAuthFailures returns the recorder of one platform's refused requests; with a nil audit
// log they are only logged.
func NewAuthFailures(platform string, log AuditLog, clk clock.Clock, l zerolog.Logger) *AuthFailures {
	return &AuthFailures{platform: platform, audit: log, clock: clk, log: l, gate: flood.Gate{Max: AuthFailuresPerMinute}}
}

// Record records one refused request to path from the client of r.
func (f *AuthFailures) Record(ctx context.Context, r *http.Request, reason error) {
	now := f.clock.Now()
	ok, suppressed := f.gate.Allow(now)
	if !ok {
		return
	}
	path, remote := r.URL.Path, ClientIP(r)
	f.log.Warn().Str("path", path).Str("remote", remote).Str("reason", reason.Error()).
		Int("suppressed", suppressed).Msg("refused a request: invalid signature")
	if f.audit == nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := f.audit.AppendAudit(actx, audit.Event{At: now, Actor: "unknown"}.With(audit.AuthFailedData{
		Platform: f.platform, Path: path, Remote: remote, Reason: reason.Error(), Suppressed: suppressed,
	})); err != nil {
		f.log.Error().Err(err).Msg("record auth.failed audit event")
	}
}

// ClientIP is the address of the peer of r, without its port.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
