package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The device flow's grant type, as GitHub documents it.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// DeviceFlow is a fake of GitHub's OAuth device flow and of GET /user, on one server that
// stands for both github.com (oauth_url) and api.github.com (api_url). It answers as GitHub
// documents: POST /login/device/code gives device_code, user_code, verification_uri,
// expires_in and interval; POST /login/oauth/access_token answers 200 with
// {"error":"authorization_pending"} until the test plays the person (Authorize, Deny, Expire),
// slow_down with the new interval when scripted (Then), incorrect_client_credentials for
// another client ID, unsupported_grant_type, incorrect_device_code; then an access token,
// which GET /user (Authorization: Bearer or token) turns into {"login","id"}. It records every
// call, and every device code and token it issued so that a test can look for them where they
// must not be.
type DeviceFlow struct {
	URL      string
	ClientID string
	srv      *httptest.Server

	mu     sync.Mutex
	calls  []DeviceCall
	script []string // the next poll answers, before the outcome
	// outcome is what polling answers once the script is spent: "" pending, "approved",
	// "denied", "expired"; for every code, unless the code has its own (AuthorizeCode).
	outcome  string
	user     deviceUser
	interval int
	device   []string
	codes    map[string]*deviceState // by device code
	tokens   map[string]deviceUser
}

// deviceState is one code's own outcome, once the person acted on it.
type deviceState struct {
	userCode string
	outcome  string
	user     deviceUser
}

type deviceUser struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
}

// DeviceCall is one request the fake received.
type DeviceCall struct {
	// Op is "POST /login/device/code", "POST /login/oauth/access_token" or "GET /user".
	Op string
	// Form is the request's form (client_id, device_code, grant_type).
	Form url.Values
	// Answer is the error the fake answered ("authorization_pending"), "token" for a token,
	// or the user's login for GET /user; Status the HTTP status.
	Answer string
	Status int
}

// UserCode and Interval are what every started flow gets.
const (
	UserCode = "WDJB-MJHT"
	Interval = 5
)

// NewDeviceFlow starts a fake for the App with clientID, closed when the test ends.
func NewDeviceFlow(t testing.TB, clientID string) *DeviceFlow {
	t.Helper()
	f := &DeviceFlow{ClientID: clientID, interval: Interval, tokens: map[string]deviceUser{}, codes: map[string]*deviceState{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Then scripts the next poll answers ("authorization_pending", "slow_down"), given before
// the outcome applies.
func (f *DeviceFlow) Then(answers ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, answers...)
}

// Authorize plays the person entering the code and approving as GitHub user login (ID id).
func (f *DeviceFlow) Authorize(login string, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcome, f.user = "approved", deviceUser{Login: login, ID: id}
}

// AuthorizeCode plays the person who was shown userCode entering it and approving as GitHub
// user login (ID id); the other codes keep what they had.
func (f *DeviceFlow) AuthorizeCode(userCode, login string, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.codes {
		if st.userCode == userCode {
			st.outcome, st.user = "approved", deviceUser{Login: login, ID: id}
		}
	}
}

// Deny plays the person declining at GitHub.
func (f *DeviceFlow) Deny() { f.set("denied") }

// Expire lets the code expire.
func (f *DeviceFlow) Expire() { f.set("expired") }

func (f *DeviceFlow) set(outcome string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcome = outcome
}

// Calls returns the requests so far.
func (f *DeviceFlow) Calls() []DeviceCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DeviceCall(nil), f.calls...)
}

// Issued returns every device code and access token the fake gave out.
func (f *DeviceFlow) Issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.device...)
	for tok := range f.tokens {
		out = append(out, tok)
	}
	return out
}

func (f *DeviceFlow) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	call := DeviceCall{Op: r.Method + " " + r.URL.Path, Form: form}
	call.Status, call.Answer = f.answer(w, r, form)
	f.calls = append(f.calls, call)
}

// answer writes the answer to one request with f.mu held, and returns its status and gist.
func (f *DeviceFlow) answer(w http.ResponseWriter, r *http.Request, form url.Values) (int, string) {
	switch r.Method + " " + r.URL.Path {
	case "POST /login/device/code":
		if form.Get("client_id") != f.ClientID {
			// An unknown client ID starts nothing.
			return f.write(w, http.StatusNotFound, map[string]string{"error": "Not Found"}), "not found"
		}
		code := random("dc")
		f.device = append(f.device, code)
		// The first code is UserCode; each code after it is different, as GitHub's are.
		uc := UserCode
		if n := len(f.device); n > 1 {
			uc = fmt.Sprintf("WDJB-%04d", n)
		}
		f.codes[code] = &deviceState{userCode: uc}
		return f.write(w, http.StatusOK, map[string]any{
			"device_code": code, "user_code": uc, "verification_uri": f.URL + "/login/device",
			"expires_in": 900, "interval": f.interval,
		}), "code"
	case "POST /login/oauth/access_token":
		return f.poll(w, form)
	case "GET /user":
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		u, ok := f.tokens[tok]
		if (scheme != "Bearer" && scheme != "token") || !ok {
			return f.write(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": docs}), "bad credentials"
		}
		return f.write(w, http.StatusOK, map[string]any{"login": u.Login, "id": u.ID, "type": "User", "site_admin": false}), u.Login
	}
	return f.write(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": docs}), "not found"
}

// poll answers the token endpoint: 200 with an error while nothing is decided.
func (f *DeviceFlow) poll(w http.ResponseWriter, form url.Values) (int, string) {
	fail := func(code string, extra map[string]any) (int, string) {
		body := map[string]any{"error": code, "error_description": code, "error_uri": "https://docs.github.com"}
		for k, v := range extra {
			body[k] = v
		}
		return f.write(w, http.StatusOK, body), code
	}
	switch {
	case form.Get("client_id") != f.ClientID:
		return fail("incorrect_client_credentials", nil)
	case form.Get("grant_type") != deviceGrantType:
		return fail("unsupported_grant_type", nil)
	case !contains(f.device, form.Get("device_code")):
		return fail("incorrect_device_code", nil)
	}
	if len(f.script) > 0 {
		next := f.script[0]
		f.script = f.script[1:]
		if next == "slow_down" {
			f.interval += 5
			return fail(next, map[string]any{"interval": f.interval})
		}
		return fail(next, nil)
	}
	st := f.codes[form.Get("device_code")]
	outcome, user := f.outcome, f.user
	if st.outcome != "" {
		outcome, user = st.outcome, st.user
	}
	switch outcome {
	case "approved":
		tok := random("ghu")
		f.tokens[tok] = user
		// A device code is good for one token.
		st.outcome = "expired"
		return f.write(w, http.StatusOK, map[string]string{"access_token": tok, "token_type": "bearer", "scope": ""}), "token"
	case "denied":
		return fail("access_denied", nil)
	case "expired":
		return fail("expired_token", nil)
	}
	return fail("authorization_pending", nil)
}

func (f *DeviceFlow) write(w http.ResponseWriter, status int, body any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s && s != "" {
			return true
		}
	}
	return false
}

// random is a fresh opaque value with a prefix, as GitHub's tokens have ("ghu_").
func random(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("githubtest: random: %v", err))
	}
	return prefix + "_" + hex.EncodeToString(b)
}
