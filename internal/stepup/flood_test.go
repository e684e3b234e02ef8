package stepup_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/stepup"
)

// No identity provider is reached here: forged links and states are refused before one is.
func TestAFloodOfForgedStatesCannotFloodTheAuditLog(t *testing.T) {
	h := grantstest.New(t, grantstest.Options{})
	su, err := stepup.New(stepup.Options{Issuer: "https://idp.invalid", ClientID: "accessbot",
		RedirectURL: "https://accessbot.example.com/stepup/callback", Clock: h.Clock}, h.DB, h.Service)
	if err != nil {
		t.Fatal(err)
	}
	handler := su.Handler()
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec.Code, rec.Body.String()
	}
	for range stepup.RepeatRefusalsPerMinute + 20 {
		if code, page := get(stepup.CallbackPath + "?state=forged&code=x"); code != http.StatusBadRequest || !strings.Contains(page, "This login did not start at accessbot.") {
			t.Fatalf("forged state answered %d: %s", code, page)
		}
		if code, _ := get(stepup.StartPath + "?s=forged"); code != http.StatusNotFound {
			t.Fatalf("forged link answered %d", code)
		}
	}
	refused := h.AuditEvents(audit.Filter{}, audit.StepUpRefused)
	if len(refused) != stepup.RepeatRefusalsPerMinute {
		t.Fatalf("%d stepup.refused events in a minute, want %d", len(refused), stepup.RepeatRefusalsPerMinute)
	}
	// A minute later the next one is recorded, with the count of those held back.
	h.Clock.Advance(time.Minute)
	get(stepup.StartPath + "?s=forged")
	refused = h.AuditEvents(audit.Filter{}, audit.StepUpRefused)
	last, _ := audit.Decode[audit.StepUpRefusedData](refused[len(refused)-1])
	if len(refused) != stepup.RepeatRefusalsPerMinute+1 || last.Refused != stepup.RefusedBadLink || !strings.Contains(last.Detail, "(70 more like it were not recorded)") {
		t.Errorf("%d events, last %+v", len(refused), last)
	}
	for _, e := range refused {
		if e.Actor != "unknown" || e.RequestID != "" {
			t.Errorf("a forged refusal was recorded as %s on %q", e.Actor, e.RequestID)
		}
	}
}
