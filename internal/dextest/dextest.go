// Package dextest starts a throwaway Dex, a real OpenID Connect provider, for the tests of
// step-up approval: its static password connector with the people a test names (bcrypt
// hashes), a static client whose redirect URI is the test's accessbot, and memory storage.
// Dex is built once by .ci/dex into the tools cache; a machine without it skips,
// and CI=true fails (servertest.Handle).
//
// Login drives Dex's login form with a plain http.Client, as a browser would: no browser needed.
package dextest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/accessbot/accessbot/internal/servertest"
)

// Version is the Dex release .ci/dex builds.
const Version = "v2.13.0"

// Binary returns the path of the dex binary: $ACCESSBOT_DEX, else the tools cache where
// .ci/dex puts it. Its login pages are in the web/ directory beside it.
func Binary() (string, error) {
	if p := os.Getenv("ACCESSBOT_DEX"); p != "" {
		return p, nil
	}
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", servertest.Unavailable{Msg: "dextest: no home directory to find the tools cache in"}
			}
			cache = filepath.Join(home, ".cache")
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	p := filepath.Join(tools, "dex-"+Version, "dex")
	if _, err := os.Stat(p); err != nil {
		return "", servertest.Unavailable{Msg: "dextest: Dex is not built (" + p + "): run .ci/dex"}
	}
	return p, nil
}

// User is one person of Dex's password database.
type User struct {
	Email    string
	Password string
}

// Options configure a Dex.
type Options struct {
	// RedirectURI is the static client's redirect URI (accessbot's /stepup/callback).
	RedirectURI string
	Users       []User
}

// Server is a running Dex.
type Server struct {
	// Issuer is Dex's issuer URL (http on loopback).
	Issuer       string
	ClientID     string
	ClientSecret string
	proc         servertest.Process
	dir          string
}

// Start starts a Dex for one test and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		servertest.Handle(t, err)
	}
	dir, err := servertest.MakeDir("dex")
	if err != nil {
		t.Fatal(err)
	}
	s, err := start(bin, dir, o)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func start(bin, dir string, o Options) (*Server, error) {
	port, err := servertest.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Issuer:       "http://127.0.0.1:" + strconv.Itoa(port) + "/dex",
		ClientID:     "accessbot",
		ClientSecret: "dextest-client-secret",
		dir:          dir,
		proc: servertest.Process{
			Label: "dextest", Name: "dex", Output: filepath.Join(dir, "dex.log"),
			StopSignal: syscall.SIGTERM, StopGrace: 5 * time.Second,
		},
	}
	type password struct {
		Email    string `json:"email"`
		Username string `json:"username"`
		UserID   string `json:"userID"`
		Hash     string `json:"hash"`
	}
	var passwords []password
	for i, u := range o.Users {
		// Dex refuses hashes cheaper than bcrypt's default cost.
		h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("dextest: hash password of %s: %w", u.Email, err)
		}
		local, _, _ := strings.Cut(u.Email, "@")
		passwords = append(passwords, password{Email: u.Email, Username: local,
			UserID: fmt.Sprintf("user-%d-%s", i+1, local), Hash: string(h)})
	}
	// Dex reads YAML; JSON is YAML.
	cfg := map[string]any{
		"issuer":   s.Issuer,
		"storage":  map[string]any{"type": "memory"},
		"web":      map[string]any{"http": "127.0.0.1:" + strconv.Itoa(port)},
		"frontend": map[string]any{"dir": filepath.Join(filepath.Dir(bin), "web")},
		"oauth2":   map[string]any{"skipApprovalScreen": true},
		"logger":   map[string]any{"level": "info"},
		"staticClients": []map[string]any{{
			"id": s.ClientID, "secret": s.ClientSecret, "name": "accessbot",
			"redirectURIs": []string{o.RedirectURI},
		}},
		"enablePasswordDB": true,
		"staticPasswords":  passwords,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("dextest: write config: %w", err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	servertest.Prepare(cmd, dir, nil, syscall.SIGKILL)
	if err := s.proc.Run(cmd, 15*time.Second, s.discovery); err != nil {
		return nil, err
	}
	return s, nil
}

// discovery answers nil once Dex serves its discovery document: the readiness probe.
func (s *Server) discovery(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery answered %s", resp.Status)
	}
	return nil
}

// Stop ends Dex and removes its files.
func (s *Server) Stop() {
	s.proc.Stop()
	os.RemoveAll(s.dir)
}

// Browser is an http.Client with a cookie jar, as a browser is, that stops before following a
// redirect to the callback, so a test can hold the callback URL (to send it twice, say).
func Browser(callbackPrefix string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), callbackPrefix) {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

// Login opens startURL (accessbot's step-up link) in the browser, which lands on Dex's
// password form, posts the form's fields (login, password, as web/templates/password.html
// names them) and returns the URL Dex redirects to: the callback with code and state. A
// refusal before Dex (an answer that is not Dex's form) comes back as *Refused.
func Login(ctx context.Context, browser *http.Client, startURL, email, password string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, startURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", startURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`name="password"`)) {
		return "", &Refused{Status: resp.StatusCode, Body: string(body)}
	}
	form := url.Values{"login": {email}, "password": {password}}
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, resp.Request.URL.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = browser.Do(post)
	if err != nil {
		return "", fmt.Errorf("post Dex's login form: %w", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return "", fmt.Errorf("dex did not redirect after the login (status %d): %s", resp.StatusCode, dexError(body))
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("dex redirected to %q: %w", loc, err)
	}
	return u.String(), nil
}

// Refused is an answer to the step-up link that is not Dex's login form.
type Refused struct {
	Status int
	Body   string
}

func (r *Refused) Error() string { return fmt.Sprintf("status %d: %.300s", r.Status, r.Body) }

// dexError picks the message out of Dex's error page.
func dexError(page []byte) string {
	s := string(page)
	if i := strings.Index(s, `<div class="dex-container">`); i >= 0 {
		s = s[i:]
	}
	if len(s) > 600 {
		s = s[:600]
	}
	return s
}

// Log returns what Dex has logged so far, for a failing test to show.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dex.log"))
	return string(b)
}
