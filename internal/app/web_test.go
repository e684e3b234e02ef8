package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
)

// webToken is a token fixed by web.token, through the environment.
const webToken = "configured-web-token-5d1b9f3a7c0e2468ace"

// served is an App running with the web chat on.
type served struct {
	addr string
	// log returns what was logged so far; stop stops the App and returns the whole log.
	log  func() string
	stop func() string
}

// serveWeb runs an App with the web chat on, with webSection's lines added to `web:`.
func serveWeb(t *testing.T, webSection string, env map[string]string, o app.Options) served {
	t.Helper()
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads]}
web:
  enabled: true
  people:
    - {id: alice, email: alice@example.com}
    - {id: bob, email: bob@example.com}
` + webSection
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	// No redaction: the test proves what the code logs.
	log, err := app.NewLogger(lockedWriter{&logs, &mu}, "info", "json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	s := served{addr: ln.Addr().String()}
	s.log = func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}
	var once sync.Once
	s.stop = func() string {
		once.Do(func() {
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("run: %v", err)
			}
			a.Close()
		})
		return s.log()
	}
	t.Cleanup(func() { s.stop() })
	// Run logs that it serves before it answers.
	waitFor(t, "the server to start", func() bool { return strings.Contains(s.log(), "accessbot serving") })
	return s
}

// urlLines returns the URLs of the log's "open this URL" lines.
func urlLines(t *testing.T, log string) []string {
	t.Helper()
	var urls []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			URL     string `json:"url"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if strings.HasPrefix(line.Message, "web chat: open this URL") {
			if line.Level != "info" {
				t.Errorf("the URL is logged at %s, want info", line.Level)
			}
			urls = append(urls, line.URL)
		}
	}
	return urls
}

func TestServeLogsTheWebChatsURLOnceAndItOpensTheChat(t *testing.T) {
	s := serveWeb(t, "", nil, app.Options{})
	state := "http://" + s.addr + web.PathState + "?as=alice"
	resp, err := http.Get(state)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the state without the token: %s, want 403", resp.Status)
	}

	// Opened as a person opens the logged link, the chat answers.
	var urls []string
	waitFor(t, "the URL in the log", func() bool {
		urls = urlLines(t, s.log())
		return len(urls) > 0
	})
	if len(urls) != 1 || !strings.HasPrefix(urls[0], "http://"+s.addr+"/chat/?token=") {
		t.Fatalf("logged URLs %q, want one with the token", urls)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	if resp, err = browser.Get(urls[0]); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" {
		t.Errorf("opening the logged URL: %s at %s", resp.Status, resp.Request.URL)
	}
	if resp, err = browser.Get(state); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the state with the cookie: %s", resp.Status)
	}

	log := s.stop()
	if got := urlLines(t, log); len(got) != 1 {
		t.Errorf("the URL is logged %d times, want once:\n%s", len(got), log)
	}
	token := strings.TrimPrefix(urls[0], "http://"+s.addr+"/chat/?token=")
	if n := strings.Count(log, token); n != 1 {
		t.Errorf("the token appears %d times in the log, want once (in the URL)", n)
	}
}

func TestTheWebChatsURLIsNotLoggedWhenShownOrConfigured(t *testing.T) {
	t.Run("the demo prints the URL itself", func(t *testing.T) {
		s := serveWeb(t, "", nil, app.Options{WebURLShown: true})
		if log := s.stop(); len(urlLines(t, log)) != 0 || strings.Contains(log, "token=") {
			t.Errorf("the URL was logged although the caller shows it:\n%s", log)
		}
	})
	t.Run("a configured token is never logged", func(t *testing.T) {
		s := serveWeb(t, "  token: ${WEB_TOKEN}\n", map[string]string{"WEB_TOKEN": webToken}, app.Options{})
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+web.PathState+"?as=bob", nil)
		req.Header.Set("Authorization", "Bearer "+webToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the state with the configured token: %s", resp.Status)
		}
		log := s.stop()
		if strings.Contains(log, webToken) {
			t.Errorf("the log shows the configured token:\n%s", log)
		}
		if urls := urlLines(t, log); len(urls) != 1 || urls[0] != "http://"+s.addr+"/chat/" {
			t.Errorf("logged URLs %q, want the chat's address without the token", urls)
		}
	})
}

// The web chat's history is in the database: an App built again on it (a restarted `serve` or
// demo) shows what the one before posted.
func TestARestartedServeShowsTheWebChatHistory(t *testing.T) {
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads]}
web:
  enabled: true
  people:
    - {id: alice, email: alice@example.com}
    - {id: bob, email: bob@example.com}
`
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := func() *app.App {
		t.Helper()
		a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{WebURLShown: true})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := start()
	if _, err := a.Web.Post(ctx, web.ChannelApprovals, bot.View{Title: "alice@example.com requests scratch"}); err != nil {
		t.Fatal(err)
	}
	a.Close()

	a = start()
	defer a.Close()
	st, _ := a.Web.StateFor("bob")
	if len(st.Messages) != 1 || st.Messages[0].View == nil || st.Messages[0].View.Title != "alice@example.com requests scratch" {
		t.Errorf("after the restart bob sees %+v, want the approval request", st.Messages)
	}
}
