package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/accessbot/accessbot/internal/servertest"
)

// syncBuffer is a bytes.Buffer that a process writes and a test reads at once.
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

// demoProcess is a running `accessbot demo`.
type demoProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
	// base is the web chat's origin (http://127.0.0.1:PORT); dir the demo's temporary directory.
	base, dir string
	// url is the link the demo printed, with its token; client has opened it and holds the
	// cookie, as a browser does.
	url    string
	client *http.Client
}

var (
	demoURL = regexp.MustCompile(`open ((http://127\.0\.0\.1:\d+)/chat/\?token=[A-Za-z0-9_-]{43}&as=alice)\n`)
	demoDir = regexp.MustCompile(`Ctrl-C stops the demo and deletes (\S+)\.`)
)

// startDemo starts the binary's demo on a free port, with its temporary directory under tmp,
// and waits until it says where it is.
func startDemo(t *testing.T, bin, tmp string) *demoProcess {
	t.Helper()
	p := &demoProcess{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "demo", "--listen", "127.0.0.1:0")
	p.cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tmp, "TMPDIR=" + tmp}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := p.stdout.String()
		u, d := demoURL.FindStringSubmatch(out), demoDir.FindStringSubmatch(out)
		if u != nil && d != nil {
			p.url, p.base, p.dir = u[1], u[2], d[1]
			jar, err := cookiejar.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			p.client = &http.Client{Jar: jar}
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("demo exited early: %v\nstdout:\n%s\nstderr:\n%s", err, out, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo never printed its URL\nstdout:\n%s\nstderr:\n%s", out, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends Ctrl-C and waits for a clean exit.
func (p *demoProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("demo did not exit cleanly on Ctrl-C: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("demo did not stop within 15s of Ctrl-C\nstderr:\n%s", p.stderr.String())
	}
}

// command sends `/access ...` through the web chat's API as a person, as the page does.
func (p *demoProcess) command(t *testing.T, as, text string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"as": as, "text": text})
	req, _ := http.NewRequest(http.MethodPost, p.base+"/chat/api/command", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.base)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("command %q as %s: %s %s", text, as, resp.Status, raw)
	}
	var a struct {
		Message struct {
			View map[string]any `json:"view"`
		} `json:"message"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a.Message.View
}

// waitAccess waits until the demo's access directory holds (or no longer holds) a file for the
// resource, and returns what it says.
func (p *demoProcess) waitAccess(t *testing.T, resource string, present bool, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		files, _ := filepath.Glob(filepath.Join(p.dir, "access", resource+".g-*"))
		if present && len(files) > 0 {
			b, _ := os.ReadFile(files[0])
			return string(b)
		}
		if !present && len(files) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, access files for %s: %v (want present=%v)\nstderr:\n%s", timeout, resource, files, present, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDemoEndToEnd runs the README's first command as a newcomer does: `accessbot demo` prints
// where to look, the web chat answers, a request on the auto-approved resource really grants
// access through the demo's script, and in a real browser Alice asks for prod-db, cannot approve
// it herself, Bob approves, the grant shows, and its revocation shows five seconds later. Ctrl-C
// then stops the demo and removes everything it made.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	tmp := t.TempDir()
	p := startDemo(t, bin, tmp)

	// Without the printed link the chat opens for nobody, whatever reaches the port: the
	// answer says where the link is.
	resp, err := http.Get(p.base + "/chat/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(page), "accessbot demo: open") {
		t.Fatalf("/chat/ without the token: %s\n%s", resp.Status, page)
	}
	// With it, the chat opens and the token leaves the address.
	resp, err = p.client.Get(p.url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "accessbot") || resp.Request.URL.String() != p.base+"/chat/?as=alice" {
		t.Fatalf("%s: %s at %s", p.url, resp.Status, resp.Request.URL)
	}

	// The auto-approved resource: granted at once, by the demo's own script.
	v := p.command(t, "alice", "/access request staging-db 1m trying the demo")
	if title, _ := v["title"].(string); !strings.HasPrefix(title, "Approved automatically: staging-db") {
		t.Errorf("staging-db answer: %v", v)
	}
	if got := p.waitAccess(t, "staging-db", true, 10*time.Second); !strings.HasPrefix(got, "alice may use staging-db until ") {
		t.Errorf("the access file says %q", got)
	}
	// Carol is in no group: she may not request.
	if v := p.command(t, "carol", "/access request prod-db 5m INC-1"); v["tone"] != "danger" {
		t.Errorf("carol's request was not refused: %v", v)
	}

	t.Run("browser", func(t *testing.T) { browserFlow(t, p) })

	// An open event stream does not hold up the shutdown.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/chat/api/events?as=bob", nil)
	stream, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if line, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") && !strings.HasPrefix(line, "event: state") {
		t.Fatalf("event stream starts with %q, %v", line, err)
	}

	p.stop(t)
	if !strings.Contains(p.stdout.String(), "accessbot demo stopped; removed "+p.dir) {
		t.Errorf("the demo did not say it removed its directory:\n%s", p.stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("the demo left %v in its temporary directory's parent", left)
	}
	if strings.Contains(p.stderr.String(), `"level":"error"`) {
		t.Errorf("the demo logged errors:\n%s", p.stderr.String())
	}
	// The printed link is the one place the token appears.
	if _, token, _ := strings.Cut(p.url, "token="); strings.Contains(p.stderr.String(), token[:43]) {
		t.Errorf("the demo's log shows its token:\n%s", p.stderr.String())
	}
}

// chromiumPath finds the Chromium binary: skip without one, except under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	servertest.Handle(t, servertest.Unavailable{Msg: "chromium is not installed: apt-get install chromium to run the browser test"})
	return ""
}

// artifacts is where screenshots go: $ACCESSBOT_ARTIFACTS, else the test's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ACCESSBOT_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowser starts headless Chromium and returns a context to drive it, which ends after limit,
// and the function that closes the browser (before the server it talks to is stopped).
func startBrowser(t *testing.T, limit time.Duration) (context.Context, func()) {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancel := context.WithTimeout(bctx, limit)
	stop := func() { cancel(); cancelBrowser(); cancelAlloc() }
	// The first call starts the browser, which lives as long as the context of that call.
	if err := chromedp.Do(ctx); err != nil {
		stop()
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx, stop
}

func browserFlow(t *testing.T, p *demoProcess) {
	ctx, stopBrowser := startBrowser(t, 90*time.Second)
	defer stopBrowser()
	shots := artifacts(t)
	screenshot := func(name string) {
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		file := filepath.Join(shots, name)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Error(err)
			return
		}
		t.Logf("screenshot: %s", file)
	}
	failed := true
	defer func() {
		if failed {
			screenshot("web-chat-failure.png")
		}
	}()
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// until waits for a JavaScript condition on the page, for at most d.
	until := func(what, expr string, d time.Duration) {
		t.Helper()
		step(what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond)))
	}
	const (
		live            = `#status[data-state="live"]`
		approvalMessage = `li.msg[data-channel="approvals"]:not(.is-private)`
	)
	cardText := func(sel string) string {
		return fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent).join("\n")`, sel)
	}

	// 1. Alice opens the link the demo printed and asks for prod-db, typing the command and
	// pressing Enter.
	step("open the chat as Alice",
		chromedp.Navigate(p.url),
		chromedp.WaitVisible(chromedp.CSS(live)),
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access request prod-db 5s checking the demo"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`li.msg.is-private[data-channel="dm:alice"] .card.tone-pending`)),
	)
	if got := text(`li.msg.is-private[data-channel="dm:alice"] .card.tone-pending .title`); !strings.Contains(got, "Request sent: prod-db") {
		t.Errorf("Alice's answer: %q", got)
	}
	// The token left the address bar, and the page's script cannot read the cookie it became.
	if leak, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.href.includes("token") || document.cookie.includes("accessbot_chat")`)); leak {
		href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " | " + document.cookie`))
		t.Errorf("the page shows the token or its cookie: %s", href)
	}

	// 2. She cannot approve her own request.
	step("Alice tries to approve",
		chromedp.Click(chromedp.CSS(`button.chan[data-channel="approvals"]`)),
		chromedp.WaitVisible(chromedp.CSS(approvalMessage+` button[data-action="approve"]`)),
		chromedp.Click(chromedp.CSS(approvalMessage+` button[data-action="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li.msg.is-private[data-channel="approvals"] .card.tone-danger`)),
	)
	if got := text(`li.msg.is-private[data-channel="approvals"] .card.tone-danger`); !strings.Contains(got, "your own request") {
		t.Errorf("Alice's refusal: %q", got)
	}
	if files, _ := filepath.Glob(filepath.Join(p.dir, "access", "prod-db.*")); len(files) > 0 {
		t.Fatalf("a self-approval granted access: %v", files)
	}

	// 3. Bob, chosen in the switcher, approves.
	step("switch to Bob",
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#as'); s.value = 'bob'; s.dispatchEvent(new Event('change')); })()`),
	)
	until("Bob's view", `document.querySelector('#as-role').textContent === 'bob@example.com' && document.querySelector('#status').dataset.state === 'live'`, 10*time.Second)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('li.msg.is-private').length`)); got != 0 {
		t.Errorf("Bob sees %d of Alice's private messages", got)
	}
	step("Bob approves", chromedp.Click(chromedp.CSS(approvalMessage+` button[data-action="approve"]`)))

	// 4. The approval message, updated live, shows the grant; the script made it real.
	until("the grant shows", cardText(approvalMessage)+`.includes("Granted until")`, 15*time.Second)
	if got := p.waitAccess(t, "prod-db", true, 5*time.Second); !strings.HasPrefix(got, "alice may use prod-db") {
		t.Errorf("prod-db access file: %q", got)
	}
	screenshot("web-chat-granted.png")

	// 5. Five seconds later the access ends on its own, and the message says so.
	until("the revocation shows", cardText(approvalMessage)+`.includes("Ended on time")`, 30*time.Second)
	p.waitAccess(t, "prod-db", false, 5*time.Second)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+approvalMessage+` button[data-action="approve"]').length`)); n != 0 {
		t.Errorf("the ended request still has %d Approve button(s)", n)
	}

	// Alice heard about it in her DM.
	step("switch back to Alice",
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#as'); s.value = 'alice'; s.dispatchEvent(new Event('change')); })()`),
	)
	until("Alice's view", `document.querySelector('#as-role').textContent === 'alice@example.com' && document.querySelector('#status').dataset.state === 'live'`, 10*time.Second)
	step("Alice opens her DM", chromedp.Click(chromedp.CSS(`button.chan[data-channel="dm:alice"]`)))
	dm := cardText(`li.msg[data-channel="dm:alice"]:not(.is-private)`)
	until("Alice's DM says she had access, and that it ended",
		dm+`.includes("Your access to prod-db is active") && `+dm+`.includes("Your access to prod-db has ended")`, 10*time.Second)

	// `/access request` alone opens the form; a bad duration is shown on its input, and the
	// form keeps what was typed.
	step("Alice opens the request form",
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access request"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#form-dialog[open] #in-resource`)),
		chromedp.SetValue(chromedp.CSS("#in-resource"), "staging-db"),
		chromedp.SendKeys(chromedp.CSS("#in-duration"), "soon"),
		chromedp.Click(chromedp.CSS("#form-submit")),
	)
	until("the form shows the error", `document.querySelector('[data-error-for="duration"]').textContent.includes("not a duration")`, 10*time.Second)
	step("Alice corrects the duration",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#in-duration').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#in-duration"), "2m"+kb.Enter),
		chromedp.WaitNotVisible(chromedp.CSS("#form-dialog")),
	)
	until("the form's request is approved", cardText(`li.msg.is-private[data-channel="dm:alice"]`)+`.includes("Approved automatically: staging-db for 2m")`, 10*time.Second)
	screenshot("web-chat.png")

	// The same page on a phone.
	step("phone size",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#messages').scrollTop = 1e9`),
	)
	screenshot("web-chat-phone.png")
	failed = t.Failed()
}
