package stepup

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// Refusal codes of stepup.refused.
const (
	RefusedBadLink     = "bad_link"     // a link accessbot never issued
	RefusedExpiredLink = "expired_link" // opened after LinkTTL
	RefusedUsedLink    = "used_link"    // opened twice
	RefusedBadState    = "bad_state"    // a callback with a state accessbot never sent
	RefusedReplayed    = "replayed"     // a callback whose state already came back
	RefusedIdPError    = "idp_error"    // the provider answered with an error, or the exchange failed
	RefusedBadToken    = "bad_token"    // no ID token, a bad signature, issuer, audience, expiry or nonce
	RefusedWrongPerson = "wrong_person" // the login is not the person who clicked
	RefusedUnverified  = "unverified"   // the email is not verified
	RefusedStaleLogin  = "stale_login"  // auth_time older than max_age, or missing
	RefusedNoMFA       = "no_mfa"       // amr/acr do not show MFA
)

// unknownActor is the audit actor of a refusal that no attempt explains (a forged link or
// state): nobody known clicked.
const unknownActor = "unknown"

// clockSkew is how far ahead of accessbot's clock a login time may be (the provider's clock
// runs a little fast).
const clockSkew = time.Minute

// callbackTimeout bounds the callback's calls to the provider and the database.
const callbackTimeout = 15 * time.Second

// Handler serves StartPath and CallbackPath.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StartPath, s.start)
	mux.HandleFunc("GET "+CallbackPath, s.callback)
	return mux
}

// start opens a link: it checks the link, stores the login's state, nonce and PKCE verifier,
// and sends the browser to the provider.
func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	id := r.URL.Query().Get("s")
	if id == "" || len(id) > 100 {
		s.refuse(ctx, w, nil, RefusedBadLink, "The link has no step-up ID.", "", http.StatusBadRequest,
			"This link is not one accessbot gave out. Click Approve in chat again for a new one.")
		return
	}
	state, err1 := randomToken()
	nonce, err2 := randomToken()
	if err := errors.Join(err1, err2); err != nil {
		s.fail(w, err)
		return
	}
	verifier := oauth2.GenerateVerifier()
	now := s.now()
	at, err := s.store.StartStepUp(ctx, hash(id), hash(state), nonce, verifier, now)
	switch {
	case errors.Is(err, ErrNotFound):
		s.refuse(ctx, w, nil, RefusedBadLink, "An unknown step-up link was opened.", "", http.StatusNotFound,
			"This link is not one accessbot gave out. Click Approve in chat again for a new one.")
		return
	case errors.Is(err, ErrUsed):
		s.refuse(ctx, w, &at, RefusedUsedLink, "A step-up link was opened a second time.", "", http.StatusConflict,
			"This link was already used; each works once. Click Approve in chat again for a new one.")
		return
	case err != nil:
		s.fail(w, fmt.Errorf("start step-up: %w", err))
		return
	}
	if !now.Before(at.LinkExpiresAt) {
		s.refuse(ctx, w, &at, RefusedExpiredLink, "The step-up link was opened after it expired.", "", http.StatusGone,
			fmt.Sprintf("This link expired (links are valid for %s). Click Approve in chat again for a new one.", s.o.LinkTTL))
		return
	}
	oc, _, err := s.client(ctx)
	if err != nil {
		s.refuse(ctx, w, &at, RefusedIdPError, "The identity provider could not be reached: "+err.Error(), "", http.StatusBadGateway,
			"accessbot could not reach the identity provider. Try again in a minute.")
		return
	}
	opts := []oauth2.AuthCodeOption{
		oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		// A step-up is a new login, never a session the browser already has.
		oauth2.SetAuthURLParam("prompt", "login"),
		oauth2.SetAuthURLParam("max_age", strconv.Itoa(int(s.o.MaxAge/time.Second))),
	}
	if len(s.o.ACRValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(s.o.ACRValues, " ")))
	}
	w.Header().Set("Cache-Control", "no-store")
	// The link's ID stays out of the provider's logs.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, oc.AuthCodeURL(state, opts...), http.StatusFound)
}

// callback finishes a login: one use of the state, the code exchanged with the PKCE verifier,
// the ID token checked, then the approval recorded.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 100 {
		s.refuse(ctx, w, nil, RefusedBadState, "A step-up callback came without a state.", "", http.StatusBadRequest,
			"This login did not start at accessbot. Click Approve in chat again.")
		return
	}
	now := s.now()
	at, err := s.store.FinishStepUp(ctx, hash(state), now)
	switch {
	case errors.Is(err, ErrNotFound):
		s.refuse(ctx, w, nil, RefusedBadState, "A step-up callback came with a state accessbot never sent.", "", http.StatusBadRequest,
			"This login did not start at accessbot. Click Approve in chat again.")
		return
	case errors.Is(err, ErrUsed):
		s.refuse(ctx, w, &at, RefusedReplayed, "A step-up callback came back a second time.", "", http.StatusConflict,
			"This login was already used once; it cannot approve again. Click Approve in chat again if you need to.")
		return
	case err != nil:
		s.fail(w, fmt.Errorf("finish step-up: %w", err))
		return
	}
	if e := q.Get("error"); e != "" {
		s.refuse(ctx, w, &at, RefusedIdPError, "The identity provider answered "+clip(e)+": "+clip(q.Get("error_description")), "", http.StatusBadGateway,
			"The identity provider did not log you in ("+clip(e)+"). Your approval is not recorded; click Approve in chat to try again.")
		return
	}
	proof, code, detail, msg := s.check(ctx, &at, q.Get("code"), now)
	if code != "" {
		status := http.StatusForbidden
		if code == RefusedIdPError {
			status = http.StatusBadGateway
		}
		s.refuse(ctx, w, &at, code, detail, proof.Subject, status, msg)
		return
	}
	out, err := s.grants.ApproveVerified(ctx, at.Actor, at.RequestID, proof)
	if err != nil {
		var ge *grants.Error
		if errors.As(err, &ge) {
			// The domain refused (already decided, not an approver, their own request) and
			// recorded it as it records any refused review.
			s.page(w, http.StatusConflict, "Approval not recorded", ge.Message)
			return
		}
		s.fail(w, fmt.Errorf("record step-up approval of request %s: %w", at.RequestID, err))
		return
	}
	text := fmt.Sprintf("Your approval of request %s is recorded.", out.Request.ID)
	if out.Request.State == grants.RequestPending {
		text += " It still needs more approvals."
	}
	s.page(w, http.StatusOK, "Approved", text+" You can close this tab.")
}

// check exchanges the code and checks the ID token. It returns the proof, or a refusal code
// with an audit detail and a sentence for the person.
func (s *Service) check(ctx context.Context, at *Attempt, code string, now time.Time) (p grants.Proof, refused, detail, msg string) {
	const retry = " Your approval is not recorded; click Approve in chat to try again."
	if code == "" {
		return p, RefusedIdPError, "The identity provider sent no code.", "The identity provider sent no login back." + retry
	}
	oc, verifier, err := s.client(ctx)
	if err != nil {
		return p, RefusedIdPError, "The identity provider could not be reached: " + err.Error(), "accessbot could not reach the identity provider." + retry
	}
	tok, err := oc.Exchange(oidc.ClientContext(ctx, s.o.HTTPClient), code, oauth2.VerifierOption(at.Verifier))
	if err != nil {
		return p, RefusedIdPError, "The code exchange failed: " + clip(err.Error()), "The identity provider did not confirm the login." + retry
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return p, RefusedBadToken, "The token response had no ID token.", "The identity provider sent no ID token." + retry
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return p, RefusedBadToken, "The ID token did not verify: " + clip(err.Error()), "The identity provider's token did not verify." + retry
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(at.Nonce)) != 1 {
		return p, RefusedBadToken, "The ID token's nonce is not this login's.", "The identity provider's token belongs to another login." + retry
	}
	var c struct {
		AuthTime *float64 `json:"auth_time"`
		AMR      []string `json:"amr"`
		ACR      string   `json:"acr"`
	}
	var all map[string]any
	if err := errors.Join(idt.Claims(&c), idt.Claims(&all)); err != nil {
		return p, RefusedBadToken, "The ID token's claims did not parse: " + clip(err.Error()), "The identity provider's token could not be read." + retry
	}
	p = grants.Proof{Issuer: idt.Issuer, Subject: idt.Subject, AMR: c.AMR, ACR: c.ACR}
	email, _ := all[s.o.Claim].(string)
	p.Email = email
	if email == "" {
		return p, RefusedWrongPerson, fmt.Sprintf("The ID token has no %s claim.", s.o.Claim),
			"The identity provider did not say who you are." + retry
	}
	if s.o.Claim == "email" {
		if v, _ := all["email_verified"].(bool); !v {
			return p, RefusedUnverified, "The ID token's email " + email + " is not verified.",
				"The identity provider has not verified your email address." + retry
		}
	}
	if !grants.MatchesPerson(at.Actor, email) {
		return p, RefusedWrongPerson, fmt.Sprintf("The login is %s, the click was %s.", email, at.Actor.ID),
			fmt.Sprintf("You logged in as %s, but the Approve button was clicked by %s. Only the person who clicked can confirm it.", email, personName(at.Actor)) + retry
	}
	switch {
	case c.AuthTime != nil && *c.AuthTime > 0:
		p.AuthTime = time.Unix(int64(*c.AuthTime), 0).UTC()
	case s.o.AuthTimeFromIAT:
		p.AuthTime = idt.IssuedAt.UTC()
	default:
		return p, RefusedStaleLogin, "The ID token has no auth_time.",
			"The identity provider did not say when you logged in." + retry
	}
	if p.AuthTime.After(now.Add(clockSkew)) {
		return p, RefusedStaleLogin, fmt.Sprintf("The login time %s is ahead of accessbot's clock.", p.AuthTime.Format(time.RFC3339)),
			"The identity provider's login time does not make sense; check the clocks." + retry
	}
	if age := now.Sub(p.AuthTime); age > s.o.MaxAge {
		return p, RefusedStaleLogin, fmt.Sprintf("The login is %s old; at most %s is allowed.", age.Truncate(time.Second), s.o.MaxAge),
			fmt.Sprintf("Your login at the identity provider is older than %s.", s.o.MaxAge) + retry
	}
	if len(s.o.ACRValues) > 0 && !slices.Contains(s.o.ACRValues, c.ACR) {
		return p, RefusedNoMFA, fmt.Sprintf("The ID token's acr %q is none of %v.", c.ACR, s.o.ACRValues),
			"Your login did not use the strong authentication this approval needs." + retry
	}
	if s.o.RequireMFA && !showsMFA(c.AMR) {
		return p, RefusedNoMFA, fmt.Sprintf("The ID token's amr %v shows no second factor.", c.AMR),
			"Your login did not use multi-factor authentication, which this approval needs." + retry
	}
	return p, "", "", ""
}

// showsMFA reports whether the authentication methods (RFC 8176) show more than one factor:
// "mfa" itself, or two different methods (a password and a one-time code, say).
func showsMFA(amr []string) bool {
	if slices.Contains(amr, "mfa") {
		return true
	}
	seen := map[string]bool{}
	for _, m := range amr {
		seen[m] = true
	}
	return len(seen) >= 2
}

// refuse records stepup.refused and answers the browser with the sentence. at is nil when no
// attempt explains the request (a forged link or state). Those, and replays, can be sent by
// anyone any number of times, so they are recorded at most RepeatRefusalsPerMinute a minute
// (the rest counted in the next one); every other refusal ends an attempt that an approver's
// click made, and is always recorded.
func (s *Service) refuse(ctx context.Context, w http.ResponseWriter, at *Attempt, code, detail, subject string, status int, msg string) {
	actor, requestID, d := grants.Actor{ID: unknownActor}, "", grants.Approve
	if at != nil {
		actor, requestID, d = at.Actor, at.RequestID, at.Decision
	}
	record, suppressed := true, 0
	if at == nil || code == RefusedReplayed || code == RefusedUsedLink {
		record, suppressed = s.repeats.Allow(s.o.Clock.Now())
	}
	if record {
		if suppressed > 0 {
			detail += fmt.Sprintf(" (%d more like it were not recorded)", suppressed)
		}
		s.o.Log.Warn().Str("refused", code).Str("actor", actor.ID).Str("request_id", requestID).Msg("step-up refused")
		s.grants.RefuseStepUp(ctx, actor, requestID, d, code, detail, subject)
	}
	s.page(w, status, "Approval not recorded", msg)
}

// RepeatRefusalsPerMinute bounds the stepup.refused events of forged and replayed links and
// states, so that a flood of them cannot flood the audit log.
const RepeatRefusalsPerMinute = 30

// fail answers an unexpected error with a generic sentence; the log has the chain.
func (s *Service) fail(w http.ResponseWriter, err error) {
	s.o.Log.Error().Err(err).Msg("step-up failed")
	s.page(w, http.StatusInternalServerError, "Something went wrong", "accessbot could not finish the login. Try again in a minute.")
}

// pageSource is the one page the login flow answers with: a title and one sentence, both
// escaped for HTML by internal/tmpl (they can carry what the identity provider sent).
const pageSource = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>accessbot: {{.Title}}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`

var pageTmpl = tmpl.Must(tmpl.Parse("page", pageSource, tmpl.Options{HTML: true}))

// page answers with a small HTML page: a title and one sentence.
func (s *Service) page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Text string }{title, text})
}

func personName(a grants.Actor) string {
	if a.Email != "" {
		return a.Email
	}
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// clip keeps what the provider sent to a bounded length before it reaches a page or the log.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
