package stepup_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/dextest"
	"github.com/accessbot/accessbot/internal/stepup"
)

// world is one accessbot (a grants harness over SQLite, a step-up Service behind an HTTP
// server) and one Dex, started by the test, that knows bob and carol (approvers) and alice.
type world struct {
	t       testing.TB
	h       *grantstest.Harness
	dex     *dextest.Server
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	su      *stepup.Service
}

var passwords = map[string]string{
	"alice@example.com": "alice-pw",
	"bob@example.com":   "bob-pw",
	"carol@example.com": "carol-pw",
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if h := w.handler.Load(); h != nil {
			(*h).ServeHTTP(rw, r)
			return
		}
		http.NotFound(rw, r)
	}))
	t.Cleanup(w.srv.Close)
	var users []dextest.User
	for email, pw := range passwords {
		users = append(users, dextest.User{Email: email, Password: pw})
	}
	w.dex = dextest.Start(t, dextest.Options{RedirectURI: w.srv.URL + stepup.CallbackPath, Users: users})
	res := grantstest.DefaultResource()
	res.StepUp = grants.StepUp{Approve: true}
	w.h = grantstest.New(t, grantstest.Options{Resources: []*grants.Resource{res}})
	// Dex signs with the real time; accessbot's clock starts there and moves when a case says.
	w.h.Clock.Set(time.Now().UTC())
	w.configure(func(*stepup.Options) {})
	return w
}

// configure replaces the step-up Service with one whose options o changes.
func (w *world) configure(change func(o *stepup.Options)) {
	w.t.Helper()
	o := stepup.Options{
		Issuer: w.dex.Issuer, ClientID: w.dex.ClientID, ClientSecret: w.dex.ClientSecret,
		RedirectURL: w.srv.URL + stepup.CallbackPath,
		// Dex keeps no login session and sends no auth_time: each token follows a password entry.
		AuthTimeFromIAT: true,
		Clock:           w.h.Clock,
		Log:             zerolog.New(zerolog.NewTestWriter(w.t)).Level(zerolog.ErrorLevel),
	}
	change(&o)
	su, err := stepup.New(o, w.h.DB, w.h.Service)
	if err != nil {
		w.t.Fatal(err)
	}
	w.su = su
	h := su.Handler()
	w.handler.Store(&h)
}

// request has alice ask for prod-db and returns the request's ID.
func (w *world) request() string {
	w.t.Helper()
	return w.requestBy(grantstest.Alice)
}

// requestBy has a asks for prod-db and returns the request's ID.
func (w *world) requestBy(a grants.Actor) string {
	w.t.Helper()
	out, err := w.h.Service.Request(w.h.Ctx, a, grants.RequestInput{Resource: "prod-db", Duration: time.Hour, Reason: "INC-42 fix the index"})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Request.ID
}

// link is what bob's Approve click gets.
func (w *world) link(requestID string) string {
	w.t.Helper()
	link, exp, err := w.su.Link(w.h.Ctx, grantstest.Bob, requestID, grants.Approve)
	if err != nil {
		w.t.Fatal(err)
	}
	if want := w.h.Clock.Now().Add(stepup.DefaultLinkTTL); !exp.Equal(want.UTC().Truncate(time.Microsecond)) {
		w.t.Errorf("link expires %v, want %v", exp, want)
	}
	return link
}

// browser is a person's browser, which stops before the callback so the test holds its URL.
func (w *world) browser() *http.Client { return dextest.Browser(w.srv.URL + stepup.CallbackPath) }

// login opens the link and logs in at Dex as email; it returns the callback URL.
func (w *world) login(b *http.Client, link, email string) string {
	w.t.Helper()
	cb, err := dextest.Login(w.h.Ctx, b, link, email, passwords[email])
	if err != nil {
		w.t.Fatalf("log in as %s: %v\nDex's log:\n%s", email, err, w.dex.Log())
	}
	return cb
}

// get fetches u and returns the status and page.
func (w *world) get(b *http.Client, u string) (int, string) {
	w.t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// events returns the audit events of the given type.
func (w *world) events(typ string) []audit.Event {
	w.t.Helper()
	var out []audit.Event
	err := w.h.DB.ScanAudit(context.Background(), audit.Filter{}, func(e audit.Event) error {
		if e.Type == typ {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// refusedWith checks that the last stepup.refused says code, and that the request is still
// pending with no approval.
func (w *world) refusedWith(requestID, code string) audit.StepUpRefusedData {
	w.t.Helper()
	evs := w.events(audit.StepUpRefused)
	if len(evs) == 0 {
		w.t.Fatalf("no %s event", audit.StepUpRefused)
	}
	last := evs[len(evs)-1]
	p, err := audit.Decode[audit.StepUpRefusedData](last)
	if err != nil {
		w.t.Fatal(err)
	}
	if p.Refused != code || p.Decision != string(grants.Approve) {
		w.t.Errorf("stepup.refused = %+v, want refused %s", p, code)
	}
	if requestID != "" {
		if last.RequestID != requestID {
			w.t.Errorf("stepup.refused is about request %q, want %q", last.RequestID, requestID)
		}
		req, err := w.h.Service.GetRequest(w.h.Ctx, requestID)
		if err != nil {
			w.t.Fatal(err)
		}
		if req.State != grants.RequestPending {
			w.t.Errorf("request %s is %s after a refused step-up; want pending", requestID, req.State)
		}
		if rv, _ := w.h.Service.Reviews(w.h.Ctx, requestID); len(rv) != 0 {
			w.t.Errorf("a refused step-up left reviews %+v", rv)
		}
	}
	return p
}

func TestAStepUpLoginAtDexRecordsTheApprovalWithTheProof(t *testing.T) {
	w := newWorld(t)
	id := w.request()
	b := w.browser()
	cb := w.login(b, w.link(id), "bob@example.com")
	status, page := w.get(b, cb)
	if status != http.StatusOK || !strings.Contains(page, "Your approval of request "+id+" is recorded.") {
		t.Fatalf("callback answered %d:\n%s", status, page)
	}
	req, err := w.h.Service.GetRequest(w.h.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if req.State != grants.RequestApproved || req.DecidedBy != grantstest.Bob.ID {
		t.Errorf("request is %s by %q, want approved by bob", req.State, req.DecidedBy)
	}
	evs := w.events(audit.ReviewApproved)
	if len(evs) != 1 || evs[0].Actor != grantstest.Bob.ID {
		t.Fatalf("review.approved events = %+v", evs)
	}
	p, err := audit.Decode[audit.ReviewApprovedData](evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.StepUpIssuer != w.dex.Issuer || p.StepUpSubject == "" || p.StepUpAuthTime.IsZero() {
		t.Errorf("review.approved = %+v; want Dex's issuer, bob's subject and the login time", p)
	}
	if age := w.h.Clock.Now().Sub(p.StepUpAuthTime); age < -time.Minute || age > time.Minute {
		t.Errorf("login time %v is %v from now", p.StepUpAuthTime, age)
	}
	if got := w.events(audit.StepUpRefused); len(got) != 0 {
		t.Errorf("a good login was refused: %+v", got)
	}
}

func TestAStepUpLoginIsRefused(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name      string
		configure func(o *stepup.Options)
		// run does the browser's part and returns the final answer's status and page.
		run        func(t *testing.T, id string) (int, string)
		wantStatus int
		wantText   string
		wantCode   string
		// unknown: no attempt explains the refusal, so the event has no request.
		unknown bool
	}{
		{
			name: "when the person who logs in is not the one who clicked",
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				return w.get(b, w.login(b, w.link(id), "carol@example.com"))
			},
			wantStatus: http.StatusForbidden,
			wantText:   "You logged in as carol@example.com, but the Approve button was clicked by bob@example.com.",
			wantCode:   stepup.RefusedWrongPerson,
		},
		{
			name: "when the login is older than max_age at the callback",
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				cb := w.login(b, w.link(id), "bob@example.com")
				w.h.Clock.Advance(stepup.DefaultMaxAge + time.Minute)
				return w.get(b, cb)
			},
			wantStatus: http.StatusForbidden,
			wantText:   "Your login at the identity provider is older than 5m0s.",
			wantCode:   stepup.RefusedStaleLogin,
		},
		{
			name:      "when MFA is required and Dex's password login shows none",
			configure: func(o *stepup.Options) { o.RequireMFA = true },
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				return w.get(b, w.login(b, w.link(id), "bob@example.com"))
			},
			wantStatus: http.StatusForbidden,
			wantText:   "Your login did not use multi-factor authentication, which this approval needs.",
			wantCode:   stepup.RefusedNoMFA,
		},
		{
			name:      "when acr_values are asked for and Dex's token has no acr",
			configure: func(o *stepup.Options) { o.ACRValues = []string{"urn:example:mfa"} },
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				return w.get(b, w.login(b, w.link(id), "bob@example.com"))
			},
			wantStatus: http.StatusForbidden,
			wantText:   "Your login did not use the strong authentication this approval needs.",
			wantCode:   stepup.RefusedNoMFA,
		},
		{
			name: "when the provider's token carries no auth_time and iat is not accepted for it",
			configure: func(o *stepup.Options) {
				o.AuthTimeFromIAT = false
			},
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				return w.get(b, w.login(b, w.link(id), "bob@example.com"))
			},
			wantStatus: http.StatusForbidden,
			wantText:   "The identity provider did not say when you logged in.",
			wantCode:   stepup.RefusedStaleLogin,
		},
		{
			name: "when the callback URL is used a second time",
			run: func(t *testing.T, id string) (int, string) {
				// The first use is an MFA refusal, so the request stays pending and only the
				// replay is in question.
				w.configure(func(o *stepup.Options) { o.RequireMFA = true })
				b := w.browser()
				cb := w.login(b, w.link(id), "bob@example.com")
				if status, _ := w.get(b, cb); status != http.StatusForbidden {
					t.Fatalf("first use answered %d", status)
				}
				w.configure(func(*stepup.Options) {})
				return w.get(w.browser(), cb)
			},
			wantStatus: http.StatusConflict,
			wantText:   "This login was already used once; it cannot approve again.",
			wantCode:   stepup.RefusedReplayed,
		},
		{
			name: "when the state was never sent by accessbot",
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				cb := w.login(b, w.link(id), "bob@example.com")
				u, _ := url.Parse(cb)
				q := u.Query()
				q.Set("state", "forged-"+q.Get("state")[:10])
				u.RawQuery = q.Encode()
				return w.get(b, u.String())
			},
			wantStatus: http.StatusBadRequest,
			wantText:   "This login did not start at accessbot.",
			wantCode:   stepup.RefusedBadState,
			unknown:    true,
		},
		{
			name: "when the code of one login comes back with the state of another",
			run: func(t *testing.T, id string) (int, string) {
				b := w.browser()
				cb := w.login(b, w.link(id), "bob@example.com")
				other := w.login(w.browser(), w.link(w.requestBy(grantstest.Carol)), "bob@example.com")
				u, _ := url.Parse(cb)
				o, _ := url.Parse(other)
				q := u.Query()
				q.Set("code", o.Query().Get("code"))
				u.RawQuery = q.Encode()
				return w.get(b, u.String())
			},
			wantStatus: http.StatusForbidden,
			wantText:   "token belongs to another login.",
			wantCode:   stepup.RefusedBadToken,
		},
		{
			name: "when the link is opened after it expired",
			run: func(t *testing.T, id string) (int, string) {
				link := w.link(id)
				w.h.Clock.Advance(stepup.DefaultLinkTTL + time.Second)
				return w.get(w.browser(), link)
			},
			wantStatus: http.StatusGone,
			wantText:   "This link expired (links are valid for 5m0s).",
			wantCode:   stepup.RefusedExpiredLink,
		},
		{
			name: "when the link is opened a second time",
			run: func(t *testing.T, id string) (int, string) {
				link := w.link(id)
				w.login(w.browser(), link, "bob@example.com")
				return w.get(w.browser(), link)
			},
			wantStatus: http.StatusConflict,
			wantText:   "This link was already used; each works once.",
			wantCode:   stepup.RefusedUsedLink,
		},
		{
			name: "when the provider answers with an error",
			run: func(t *testing.T, id string) (int, string) {
				// Stop at Dex: the authorization request carries the state, PKCE and nonce.
				b := dextest.Browser(w.dex.Issuer)
				resp, err := b.Get(w.link(id))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				auth, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || !strings.HasPrefix(auth.String(), w.dex.Issuer) {
					t.Fatalf("the link redirected to %q, want Dex", resp.Header.Get("Location"))
				}
				q := auth.Query()
				for k, want := range map[string]string{"code_challenge_method": "S256", "max_age": "300", "prompt": "login", "response_type": "code"} {
					if q.Get(k) != want {
						t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
					}
				}
				if q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
					t.Errorf("authorization request lacks PKCE, nonce or state: %s", auth)
				}
				cb := w.srv.URL + stepup.CallbackPath + "?" + url.Values{"state": {q.Get("state")}, "error": {"access_denied"}}.Encode()
				return w.get(w.browser(), cb)
			},
			wantStatus: http.StatusBadGateway,
			wantText:   "The identity provider did not log you in (access_denied).",
			wantCode:   stepup.RefusedIdPError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The world's helpers fail the case they run in.
			w.t = t
			w.h.Clock.Set(time.Now().UTC())
			if tt.configure != nil {
				w.configure(tt.configure)
			} else {
				w.configure(func(*stepup.Options) {})
			}
			id := w.request()
			status, page := tt.run(t, id)
			if status != tt.wantStatus || !strings.Contains(page, tt.wantText) {
				t.Errorf("answer %d:\n%s\nwant %d with %q", status, page, tt.wantStatus, tt.wantText)
			}
			if tt.unknown {
				w.refusedWith("", tt.wantCode)
				evs := w.events(audit.StepUpRefused)
				if last := evs[len(evs)-1]; last.Actor != "unknown" || last.RequestID != "" {
					t.Errorf("a forged state was recorded as %s on %q", last.Actor, last.RequestID)
				}
				return
			}
			w.refusedWith(id, tt.wantCode)
		})
	}
}
