package teams_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/teams"
	"github.com/accessbot/accessbot/bot/teams/teamstest"
	"github.com/accessbot/accessbot/internal/clock"
)

// FuzzVerifyNeverAcceptsWhatWasNotSigned feeds the verifier made-up tokens and bodies around a
// good one: it must never panic, and accept only the good token with its own body.
func FuzzVerifyNeverAcceptsWhatWasNotSigned(f *testing.F) {
	fake := teamstest.New(f)
	body := []byte(`{"type":"message","channelId":"msteams","serviceUrl":"` + fake.ServiceURL() +
		`","channelData":{"tenant":{"id":"` + teamstest.TenantID + `"}}}`)
	now := time.Now()
	good := fake.Sign(body, teamstest.Token{Now: now})
	v := &teams.Verifier{AppID: teamstest.AppID, Keys: &teams.KeySet{MetadataURL: fake.MetadataURL(), Clock: clock.NewFake(now)},
		Tenants: []string{teamstest.TenantID}, Clock: clock.NewFake(now)}
	f.Add(good, body)
	f.Add(good[:len(good)-3], body)
	f.Add("Bearer a.b.c", body)
	f.Add(good, []byte(`{"serviceUrl":"https://evil.example/"}`))
	f.Fuzz(func(t *testing.T, auth string, b []byte) {
		h := http.Header{}
		h.Set("Authorization", auth)
		err := v.Verify(context.Background(), h, b)
		// The token does not cover the body (as the Bot Framework documents): only the token
		// is compared, as the verifier reads it.
		same := strings.TrimSpace(strings.TrimPrefix(auth, "Bearer ")) == strings.TrimPrefix(good, "Bearer ") &&
			strings.HasPrefix(auth, "Bearer ")
		if err == nil && !same {
			t.Fatalf("accepted a token that was not signed: %q", auth)
		}
	})
}
