package app_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
)

// serveExample runs an App on config.example.yaml as it stands, but for its database, which
// goes to a temporary directory.
func serveExample(t *testing.T) served {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const dsn = `dsn: "accessbot.db"`
	if !bytes.Contains(raw, []byte(dsn)) {
		t.Fatalf("config.example.yaml no longer has %s", dsn)
	}
	raw = bytes.Replace(raw, []byte(dsn), []byte(`dsn: "`+filepath.Join(dir, "accessbot.db")+`"`), 1)
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), raw, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	log, err := app.NewLogger(lockedWriter{&logs, &mu}, "info", "json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log, app.Options{Listener: ln})
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
	waitFor(t, "the server to start", func() bool { return strings.Contains(s.log(), "accessbot serving") })
	return s
}

// get fetches url with client and returns the status and the body.
func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestServeOnTheExampleConfigAnswersAtTheRootAndExplainsTheWebChatIsOff(t *testing.T) {
	s := serveExample(t)
	base := "http://" + s.addr

	resp, body := get(t, http.DefaultClient, base+"/")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: %s, want 200", resp.Status)
	}
	for _, want := range []string{"/healthz", "/readyz", "/metrics", "slack: off", "discord: off", "web: off", "web.enabled: true"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / does not name %q:\n%s", want, body)
		}
	}

	for _, path := range []string{"/chat", "/chat/", "/chat/app.js"} {
		resp, body := get(t, http.DefaultClient, base+path)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "web.enabled: true") {
			t.Errorf("GET %s: %s %q, want 404 saying how to turn the web chat on", path, resp.Status, body)
		}
	}
	if resp, _ := get(t, http.DefaultClient, base+"/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %s, want 404", resp.Status)
	}
}

func TestServeLogsOneLinePerChatPlatform(t *testing.T) {
	t.Run("the example config: every platform off", func(t *testing.T) {
		log := serveExample(t).stop()
		for _, want := range []string{`"chat platform slack: off"`, `"chat platform discord: off"`, `"chat platform web: off"`} {
			if n := strings.Count(log, want); n != 1 {
				t.Errorf("%s logged %d times, want once:\n%s", want, n, log)
			}
		}
	})
	t.Run("the web chat on: where it listens", func(t *testing.T) {
		s := serveWeb(t, "", nil, app.Options{WebURLShown: true})
		log := s.stop()
		for _, want := range []string{`"where":"GET http://` + s.addr + `/chat/"`, `"message":"chat platform web: on"`} {
			if !strings.Contains(log, want) {
				t.Errorf("the log lacks %s:\n%s", want, log)
			}
		}
	})
}

func TestTheRootSendsABrowserToTheWebChatWhenItIsOn(t *testing.T) {
	s := serveWeb(t, "  token: ${WEB_TOKEN}\n", map[string]string{"WEB_TOKEN": webToken}, app.Options{})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, body := get(t, browser, "http://"+s.addr+"/?token="+webToken)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/chat/" || !strings.Contains(body, "<html") {
		t.Errorf("GET /?token=: %s at %s, want the web chat's page", resp.Status, resp.Request.URL)
	}
}
