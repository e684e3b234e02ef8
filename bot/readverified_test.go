package bot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/clock"
)

// verifierFunc is a bot.SignatureVerifier from a function.
type verifierFunc func(http.Header, []byte) error

func (f verifierFunc) Verify(_ context.Context, h http.Header, body []byte) error { return f(h, body) }

// auditTypes is a bot.AuditLog that keeps the types of the events it is given. ReadVerified
// records on the caller's goroutine, so it needs no lock.
type auditTypes []string

func (a *auditTypes) AppendAudit(_ context.Context, e audit.Event) (audit.Event, error) {
	*a = append(*a, e.Type)
	return e, nil
}

func TestReadVerified(t *testing.T) {
	errForged := errors.New("signature does not match")
	accept := verifierFunc(func(http.Header, []byte) error { return nil })
	refuse := verifierFunc(func(http.Header, []byte) error { return errForged })
	storeDown := verifierFunc(func(http.Header, []byte) error {
		return fmt.Errorf("%w: connection refused", bot.ErrReplayUnchecked)
	})
	tests := []struct {
		name     string
		body     string
		verifier bot.SignatureVerifier
		status   int
		audited  []string
	}{
		{"a signed request's body is returned", "text=list", accept, http.StatusOK, nil},
		{"a refused signature is answered 401 and recorded", "text=list", refuse, http.StatusUnauthorized, []string{audit.AuthFailed}},
		{"a body over the limit is answered 413 and not verified", strings.Repeat("x", 65), refuse, http.StatusRequestEntityTooLarge, nil},
		{"a signed request whose replay check fails is refused with 503, not audited as forged", "text=list", storeDown, http.StatusServiceUnavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log auditTypes
			failures := bot.NewAuthFailures("test", &log, clock.Real{}, zerolog.Nop())
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/test/commands", strings.NewReader(tt.body))
			body, ok := bot.ReadVerified(w, r, 64, tt.verifier, failures)
			if ok != (tt.status == http.StatusOK) || w.Code != tt.status {
				t.Fatalf("ReadVerified ok %v, status %d; want status %d", ok, w.Code, tt.status)
			}
			if ok && string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if !slices.Equal(log, tt.audited) {
				t.Errorf("audit events %q, want %q", log, tt.audited)
			}
		})
	}
}
