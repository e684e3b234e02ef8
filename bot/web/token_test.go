package web_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
)

// fixedToken is a token set by configuration (web.token), as a script would.
const fixedToken = "scripted-token-0123456789abcdefghijklmnop"

// forwarder is a local TCP forwarder (socat, ssh -R, kubectl port-forward): it listens on a
// loopback port and copies bytes to the chat, so the chat sees a loopback peer whoever is at
// the other end.
func forwarder(t *testing.T, to string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	// Clients keep idle connections open: closing them ends the copies.
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() {
				defer in.Close()
				defer out.Close()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(out, in)
					close(done)
				}()
				_, _ = io.Copy(in, out)
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// syncBuffer collects a log that the server writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// remoteRequest is a request from across a forwarder: what a remote client sends through
// socat, or what nginx's default proxy_pass sends (Host: 127.0.0.1:8080, no X-Forwarded-*).
type remoteRequest struct {
	name   string
	method string
	path   string
	body   any
}

var remoteRequests = []remoteRequest{
	{"the page", http.MethodGet, web.Prefix, nil},
	{"the page's script", http.MethodGet, web.Prefix + "app.js", nil},
	{"the state of a person", http.MethodGet, web.PathState + "?as=alice", nil},
	{"the event stream", http.MethodGet, web.PathEvents + "?as=bob", nil},
	{"a command", http.MethodPost, web.PathCommand, map[string]string{"as": "alice", "text": "/access request prod-db 1h INC-1"}},
	{"an approval", http.MethodPost, web.PathAction, map[string]string{"as": "bob", "channel": web.ChannelApprovals, "action": bot.ActionApprove, "value": "r-1"}},
}

// do sends a remote request through the forwarder at addr, as the page would send it (same
// origin), with extra headers.
func (rr remoteRequest) do(t *testing.T, client *http.Client, addr string, header http.Header) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if rr.body != nil {
		b, _ := json.Marshal(rr.body)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(rr.method, "http://"+addr+rr.path, body)
	req.Host = "127.0.0.1:8080"
	if rr.body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://127.0.0.1:8080")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream: its first event is enough to show what it gives away.
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		return resp, line
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(raw)
}

func TestAForwarderWithoutTheTokenGetsNothing(t *testing.T) {
	h := &fakeHandler{}
	var log syncBuffer
	chat, err := web.New(web.Options{People: people, Handler: h, Log: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(chat)
	t.Cleanup(func() {
		chat.Close()
		srv.Close()
	})
	addr := forwarder(t, srv.Listener.Addr().String())
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, rr := range remoteRequests {
		t.Run(rr.name+" is refused", func(t *testing.T) {
			resp, body := rr.do(t, noRedirect, addr, nil)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %s, want 403; body %q", resp.Status, body)
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("an event stream opened: %q", body)
			}
			if !strings.Contains(body, "accessbot demo") || !strings.Contains(body, "accessbot serve") {
				t.Errorf("the answer does not say how to get the link: %q", body)
			}
			if strings.Contains(body, "alice@") || strings.Contains(body, "Alice") {
				t.Errorf("the answer gives away who is here: %q", body)
			}
		})
	}
	if cmds, acts := h.calls(); len(cmds)+len(acts) != 0 {
		t.Fatalf("a request without the token reached the handler: %+v %+v", cmds, acts)
	}

	wrong := map[string]http.Header{
		"a wrong token in the URL":      nil, // set below per request
		"a wrong bearer token":          {"Authorization": {"Bearer " + strings.Repeat("A", 43)}},
		"another scheme":                {"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:x"))}},
		"a forged cookie":               {"Cookie": {"accessbot_chat_00000000=" + strings.Repeat("A", 43)}},
		"another accessbot's cookie":    {"Cookie": {otherRunsCookie(t)}},
		"the token itself as a cookie":  {"Cookie": {tokenAsCookie(t, chat)}},
		"an empty bearer token":         {"Authorization": {"Bearer "}},
		"a token longer than any token": {"Authorization": {"Bearer " + strings.Repeat("x", 10000)}},
	}
	for name, header := range wrong {
		for _, rr := range remoteRequests {
			t.Run(name+" for "+rr.name+" is refused", func(t *testing.T) {
				if header == nil {
					rr.path = withQuery(rr.path, web.TokenParam+"="+strings.Repeat("A", 43))
				}
				resp, body := rr.do(t, noRedirect, addr, header)
				if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
					t.Errorf("status %s, Set-Cookie %q, want 403 and no cookie; body %q", resp.Status, resp.Header.Get("Set-Cookie"), body)
				}
			})
		}
	}
	if cmds, acts := h.calls(); len(cmds)+len(acts) != 0 {
		t.Fatalf("a request with a wrong token reached the handler: %+v %+v", cmds, acts)
	}

	// The person who has the link gets in through the same forwarder: the token is the key,
	// whatever the path.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	opened := chat.URL("http://"+addr, "alice")
	resp, err := browser.Get(opened)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Has(web.TokenParam) || resp.Request.URL.Query().Get("as") != "alice" {
		t.Fatalf("opening %s: %s at %s", opened, resp.Status, resp.Request.URL)
	}
	for _, rr := range remoteRequests {
		t.Run(rr.name+" works with the cookie", func(t *testing.T) {
			// The cookie jar knows the forwarder's address, not the Host header.
			resp, body := rr.do(t, browser, addr, nil)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %s, want 200; body %q", resp.Status, body)
			}
		})
	}
	if cmds, acts := h.calls(); len(cmds) != 1 || len(acts) != 1 || acts[0].actor.ID != "bob@example.com" {
		t.Errorf("with the cookie, the handler got %+v %+v", cmds, acts)
	}
	if strings.Contains(log.String(), tokenOf(t, chat)) {
		t.Errorf("the log shows the token:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "without this run's token") {
		t.Errorf("refusals are not logged:\n%s", log.String())
	}
}

func TestTheURLsTokenBecomesAStrictHttpOnlyCookie(t *testing.T) {
	chat, err := web.New(web.Options{People: people, Handler: &fakeHandler{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	chat.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		chat.Close()
		srv.Close()
	})
	token := tokenOf(t, chat)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(chat.URL(srv.URL, "alice") + "&ch=approvals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("opening the URL: %s, want a redirect", resp.Status)
	}
	if loc := resp.Header.Get("Location"); loc != "/chat/?as=alice&ch=approvals" {
		t.Errorf("redirected to %q, want the same URL without the token", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/chat" || ck.Secure || ck.Domain != "" || ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Errorf("cookie %s: want HttpOnly, SameSite=Strict, Path=/chat, host-only, for this browser session", resp.Header.Get("Set-Cookie"))
	}
	if strings.Contains(resp.Header.Get("Set-Cookie"), token) || strings.Contains(resp.Header.Get("Location"), token) {
		t.Errorf("the token is in the answer: %v", resp.Header)
	}

	// The cookie alone opens the page, the API and the stream.
	for _, path := range []string{web.Prefix, web.PathState + "?as=alice"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.AddCookie(ck)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the cookie: %s", path, resp.Status)
		}
	}

	// /chat keeps the query on its way to /chat/, so a link without the slash works too.
	resp, err = noRedirect.Get(srv.URL + "/chat?" + web.TokenParam + "=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/chat/?"+web.TokenParam+"="+token {
		t.Errorf("/chat redirected to %q", loc)
	}

	// A script may send the token as a bearer token, and a POST may carry it in the URL.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathState, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("state with the bearer token: %s", resp.Status)
	}
	b, _ := json.Marshal(map[string]string{"as": "alice", "text": "list"})
	req, _ = http.NewRequest(http.MethodPost, srv.URL+web.PathCommand+"?"+web.TokenParam+"="+token, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a command with the token in its URL: %s", resp.Status)
	}
}

func TestEachRunHasItsOwnToken(t *testing.T) {
	a, b := mustChat(t, ""), mustChat(t, "")
	ta, tb := tokenOf(t, a), tokenOf(t, b)
	if ta == tb {
		t.Fatal("two chats have one token")
	}
	for _, tok := range []string{ta, tb} {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Errorf("token %q is not 32 bytes in base64url: %v", tok, err)
		}
	}
	// A configured token is the one in the URL, and another run's token does not open this one.
	c := mustChat(t, fixedToken)
	if got := tokenOf(t, c); got != fixedToken {
		t.Errorf("configured token: URL carries %q", got)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathState, nil)
	req.Header.Set("Authorization", "Bearer "+tb)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("another run's token: %s, want 403", resp.Status)
	}
	if _, err := web.NewToken(); err != nil {
		t.Error(err)
	}
}

func TestAllowRemoteStillNeedsTheToken(t *testing.T) {
	chat := mustChatWith(t, web.Options{AllowRemote: true, Token: fixedToken})
	srv := httptest.NewServer(chat)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+web.PathState+"?as=bob", nil)
	req.Host = "chat.lab.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("allow_remote without the token: %s, want 403", resp.Status)
	}
}

func mustChat(t *testing.T, token string) *web.Chat {
	t.Helper()
	return mustChatWith(t, web.Options{Token: token})
}

func mustChatWith(t *testing.T, o web.Options) *web.Chat {
	t.Helper()
	o.People, o.Handler = people, &fakeHandler{}
	chat, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chat.Close)
	return chat
}

// tokenOf reads a chat's token from its URL, as a person reads it from the printed link.
func tokenOf(t *testing.T, chat *web.Chat) string {
	t.Helper()
	u := chat.URL("http://127.0.0.1:1", "")
	_, q, ok := strings.Cut(u, "?")
	if !ok || !strings.HasPrefix(q, web.TokenParam+"=") {
		t.Fatalf("URL %q carries no token", u)
	}
	tok := strings.TrimPrefix(q, web.TokenParam+"=")
	if tok == "" {
		t.Fatalf("URL %q carries an empty token", u)
	}
	return tok
}

// otherRunsCookie is the cookie another chat (another run) sets.
func otherRunsCookie(t *testing.T) string {
	t.Helper()
	other := mustChat(t, "")
	cookies := openedCookies(t, other)
	if len(cookies) != 1 {
		t.Fatalf("another chat set %v", cookies)
	}
	return cookies[0].Name + "=" + cookies[0].Value
}

// tokenAsCookie is the right cookie name with the URL's token as its value: the cookie is not
// the token.
func tokenAsCookie(t *testing.T, chat *web.Chat) string {
	t.Helper()
	cookies := openedCookies(t, chat)
	if len(cookies) != 1 {
		t.Fatalf("the chat set %v", cookies)
	}
	return cookies[0].Name + "=" + tokenOf(t, chat)
}

// openedCookies are the cookies a chat sets when its URL is opened from this machine.
func openedCookies(t *testing.T, chat *web.Chat) []*http.Cookie {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, chat.URL("http://127.0.0.1", ""), nil)
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	chat.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("opening the URL: %d %s", rec.Code, rec.Body)
	}
	return rec.Result().Cookies()
}

func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}
