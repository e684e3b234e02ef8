package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestEmailInDomains(t *testing.T) {
	for _, tt := range []struct {
		name    string
		domains []string
		email   string
		want    bool
	}{
		{"no domains accept anyone, even without an email", nil, "", true},
		{"an email in a listed domain is accepted", []string{"example.com", "example.org"}, "ana@example.org", true},
		{"an email in another domain is refused", []string{"example.com"}, "ana@evil.example", false},
		{"a subdomain is another domain", []string{"example.com"}, "ana@mail.example.com", false},
		{"no email is refused when domains are set", []string{"example.com"}, "", false},
		{"a name without an @ is refused", []string{"example.com"}, "example.com", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := bot.EmailInDomains(tt.domains, tt.email); got != tt.want {
				t.Errorf("EmailInDomains(%q, %q) = %v, want %v", tt.domains, tt.email, got, tt.want)
			}
		})
	}
}

func TestRefusalsRecordsOneEventPerUserAndReasonAMinute(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var got auditTypes
	r := bot.NewRefusals("teams", &got, clk, zerolog.Nop())
	ev := func() audit.Event {
		return audit.Event{Actor: "teams:u1", Subject: "teams:u1"}.With(audit.IdentityRefusedData{Platform: "teams", PlatformID: "u1", Refused: audit.RefusedGuest})
	}
	ctx := context.Background()
	r.Record(ctx, "u1", audit.RefusedGuest, ev())
	r.Record(ctx, "u1", audit.RefusedGuest, ev()) // the same within the minute: not again
	r.Record(ctx, "u1", audit.RefusedTeam, ev())  // another reason: recorded
	r.Record(ctx, "u2", audit.RefusedGuest, ev()) // another user: recorded
	clk.Advance(bot.RefusalEvery)
	r.Record(ctx, "u1", audit.RefusedGuest, ev()) // a minute later: recorded again
	if len(got) != 4 {
		t.Errorf("%d events recorded, want 4: %q", len(got), got)
	}
}

func TestRefusalsWithoutAnAuditLogRecordNothing(t *testing.T) {
	r := bot.NewRefusals("slack", nil, clock.NewFake(time.Unix(0, 0)), zerolog.Nop())
	r.Record(context.Background(), "U1", audit.RefusedGuest, audit.Event{}) // must not panic
}
