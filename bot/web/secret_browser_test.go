package web_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/accessbot/accessbot/internal/servertest"
)

// chromium finds a Chromium binary: a skip without one, except under CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	servertest.Handle(t, servertest.Unavailable{Msg: "chromium is not installed: apt-get install chromium to run the browser test"})
	return ""
}

// TestThePageShowsASecretWholeAndCopiesItExactly opens the page in Chromium as the holder:
// the kubeconfig's code block holds every byte, lines and indentation kept, and selecting it
// all (what a person copies) gives the value itself.
func TestThePageShowsASecretWholeAndCopiesItExactly(t *testing.T) {
	path := chromium(t)
	chat, srv := newChat(t, &fakeHandler{})
	v, value := kubeconfigView(3584)
	if _, err := chat.DM(context.Background(), "alice", v); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()

	// The first call starts the browser, which lives as long as the context of that call.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(chat.URL(srv.URL, "alice")),
		chromedp.Click(chromedp.CSS(`button.chan[data-channel="dm:alice"]`)),
		chromedp.WaitVisible(chromedp.CSS(`pre.secret-value`)),
	); err != nil {
		t.Fatalf("open alice's DMs: %v", err)
	}
	eval := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return s
	}
	shown := eval(`document.querySelector('pre.secret-value').textContent`)
	label := eval(`document.querySelector('.secret-label').textContent`)
	copied := eval(`(() => {
		const r = document.createRange();
		r.selectNodeContents(document.querySelector('pre.secret-value'));
		const s = window.getSelection();
		s.removeAllRanges();
		s.addRange(r);
		return s.toString();
	})()`)
	if shown != value {
		t.Errorf("the page shows %d bytes, want the %d of the kubeconfig byte for byte", len(shown), len(value))
	}
	// A selection leaves out the final line break, which YAML does not need.
	if copied != strings.TrimSuffix(value, "\n") {
		t.Errorf("selecting the code block copies %d bytes, want the %d of the kubeconfig", len(copied), len(value))
	}
	// Copy puts the exact value on the clipboard: the page's clipboard is watched, as a
	// headless browser has none to read back.
	eval(`navigator.clipboard.writeText = (s) => { window.copiedSecret = s; return Promise.resolve(); }; ""`)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button.secret-copy`)),
		chromedp.Poll[chromedp.Void](`typeof window.copiedSecret === "string"`, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatalf("press Copy: %v", err)
	}
	if got := eval(`window.copiedSecret`); got != value {
		t.Errorf("Copy put %d bytes on the clipboard, want the %d of the kubeconfig byte for byte", len(got), len(value))
	}
	if got := eval(`document.querySelector('button.secret-copy').textContent`); got != "Copied" {
		t.Errorf("the button says %q after copying", got)
	}
	if label != "kubeconfig for k8s-prod" {
		t.Errorf("label %q", label)
	}
}
