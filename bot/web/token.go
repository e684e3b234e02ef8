package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The web chat's key: a per-run secret, given once in the URL to open (as Jupyter does). The
// loopback checks stop a browser page on another site and a proxy that says it is one; they
// cannot tell a local TCP forwarder (socat, ssh -R, kubectl port-forward) or a proxy that sends
// "Host: 127.0.0.1" and no forwarding headers from a person at this machine. Only the person
// who started accessbot sees the token, so only they (and whoever they hand the URL to) get in.
const (
	// TokenParam is the query parameter that carries the token in the URL to open.
	TokenParam = "token"
	// tokenBytes is how much randomness a generated token has.
	tokenBytes = 32
	// maxTokenLength bounds what a request may offer as a token, before it is hashed.
	maxTokenLength = 512
	// cookiePrefix starts the name of the cookie the token becomes.
	cookiePrefix = "accessbot_chat_"
)

// NewToken returns a fresh token: 32 random bytes, base64url without padding.
func NewToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate the web chat's token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// key is what the Chat knows of its token: the token itself (for the URL to open) and what a
// request's credentials are compared with.
type key struct {
	token string
	// tokenSum is SHA-256 of the token: an offered token is hashed and compared with it in
	// constant time, so neither its content nor its length shows in the timing.
	tokenSum [sha256.Size]byte
	// cookieName and cookieValue are derived from the token. The value is not the token
	// itself, so a configured token with characters a cookie cannot carry still works; the
	// name differs per token, so two accessbots on one machine (ports do not separate
	// cookies) do not log each other out.
	cookieName  string
	cookieValue string
}

func newKey(token string) key {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(token))
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return key{
		token:       token,
		tokenSum:    sha256.Sum256([]byte(token)),
		cookieName:  cookiePrefix + hex.EncodeToString(derive("accessbot web chat cookie name")[:4]),
		cookieValue: base64.RawURLEncoding.EncodeToString(derive("accessbot web chat cookie value")),
	}
}

// tokenMatches compares an offered token with the token in constant time.
func (k *key) tokenMatches(offered string) bool {
	if len(offered) > maxTokenLength {
		return false
	}
	sum := sha256.Sum256([]byte(offered))
	return subtle.ConstantTimeCompare(sum[:], k.tokenSum[:]) == 1
}

// cookieMatches reports whether a request carries the cookie the token became.
func (k *key) cookieMatches(r *http.Request) bool {
	for _, ck := range r.CookiesNamed(k.cookieName) {
		if subtle.ConstantTimeCompare([]byte(ck.Value), []byte(k.cookieValue)) == 1 {
			return true
		}
	}
	return false
}

// URL returns the address to open the web chat at: origin (such as http://127.0.0.1:8080)
// then /chat/ with the token, acting as a person when as is not empty. It holds the secret:
// show it only to the person who started accessbot.
func (c *Chat) URL(origin, as string) string {
	u := strings.TrimRight(origin, "/") + Prefix + "?" + TokenParam + "=" + url.QueryEscape(c.key.token)
	if as != "" {
		u += "&as=" + url.QueryEscape(as)
	}
	return u
}

// admit lets a request through when it carries the token: in the URL, as a bearer token (for
// scripts), or as the cookie the URL's token becomes. A page opened with the token in its URL
// sets the cookie and is sent to the same URL without it, so that the token stays out of the
// address bar, the history and Referer headers. Otherwise it answers and returns false.
func (c *Chat) admit(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if q.Has(TokenParam) {
		if !c.key.tokenMatches(q.Get(TokenParam)) {
			c.refuse(w, r, "the token in the URL is wrong")
			return false
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return true
		}
		http.SetCookie(w, &http.Cookie{
			Name:     c.key.cookieName,
			Value:    c.key.cookieValue,
			Path:     "/chat",
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
			Secure:   r.TLS != nil,
		})
		q.Del(TokenParam)
		// A path under /chat/, the mux made sure: the redirect stays on this site.
		to := (&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).RequestURI()
		http.Redirect(w, r, to, http.StatusSeeOther)
		return false
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, cred, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "Bearer") || !c.key.tokenMatches(strings.TrimSpace(cred)) {
			c.refuse(w, r, "the bearer token is wrong")
			return false
		}
		return true
	}
	if c.key.cookieMatches(r) {
		return true
	}
	c.refuse(w, r, "no token")
	return false
}

// tokenHelp tells a person without the token how to get in.
const tokenHelp = "This web chat opens only with the link accessbot gave when it started, which carries a token: " +
	"`accessbot demo` prints it (\"accessbot demo: open …/chat/?token=…\"), and `accessbot serve` logs it once " +
	"(\"web chat: open this URL\"). The token changes at every start unless web.token is set, so a link from an earlier run no longer works."

// forbiddenPage is the page a browser gets without the token. No data goes into it.
const forbiddenPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>accessbot · web chat: open the link with its token</title></head>
<body>
<h1>Open the web chat with its link</h1>
<p>This web chat opens only with the link accessbot gave when it started; the link carries a token, a secret of this run.</p>
<ul>
<li><code>accessbot demo</code> prints it: the line that starts with <code>accessbot demo: open</code>.</li>
<li><code>accessbot serve</code> logs it once, at start: the line <code>web chat: open this URL</code>.</li>
</ul>
<p>The token changes at every start (unless <code>web.token</code> is set), so a link or a tab from an earlier run no longer works: open the new link.</p>
</body>
</html>
`

// refuse answers a request without the token: a page that says how to get in for a browser,
// the same in JSON for the page's API calls. The log never shows what was offered.
func (c *Chat) refuse(w http.ResponseWriter, r *http.Request, why string) {
	c.log.Warn().Str("host", r.Host).Str("remote", r.RemoteAddr).Str("path", r.URL.Path).
		Str("reason", why).Msg("refused a web chat request without this run's token")
	if strings.HasPrefix(r.URL.Path, Prefix+"api/") {
		writeError(w, http.StatusForbidden, tokenHelp)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(forbiddenPage))
	}
}
