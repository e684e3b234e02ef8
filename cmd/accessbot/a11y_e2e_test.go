package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/accessbot/accessbot/internal/servertest"
)

// axeVersion is the axe-core release .ci/run installs from npm into the tools cache.
const axeVersion = "4.14.1"

// axeScript returns the text of axe.min.js: $ACCESSBOT_AXE, else where .ci/run installs it
// ($ACCESSBOT_TOOLS, else $XDG_CACHE_HOME/accessbot-tools or ~/.cache/accessbot-tools, then
// axe-VERSION/node_modules/axe-core). A machine without it skips; CI=true fails.
func axeScript(t *testing.T) string {
	t.Helper()
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				servertest.Handle(t, servertest.Unavailable{Msg: "axe-core: no home directory to find the tools cache in"})
			}
			cache = filepath.Join(home, ".cache")
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	prefix := filepath.Join(tools, "axe-"+axeVersion)
	path := os.Getenv("ACCESSBOT_AXE")
	if path == "" {
		path = filepath.Join(prefix, "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		servertest.Handle(t, servertest.Unavailable{Msg: fmt.Sprintf(
			"axe-core is not installed (%v): run .ci/run, or npm install --prefix %s axe-core@%s", err, prefix, axeVersion)})
	}
	return string(b)
}

// axeViolation is one rule that failed, as axe.run reports it, with the elements it failed on.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target         []any  `json:"target"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeRun runs every axe rule for WCAG 2.x A and AA and the best practices on the whole page,
// and returns the violations.
const axeRun = `axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
  resultTypes: ['violations'],
}).then(r => JSON.stringify(r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map(n => ({target: n.target, failureSummary: n.failureSummary})),
}))))`

// colorScheme makes the page see prefers-color-scheme as scheme ("light" or "dark").
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// viewport makes the page as wide and high as given, in CSS pixels; 0, 0 ends the override.
func viewport(width, height int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if width == 0 {
			_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: width < 600,
		})
		return err
	})
}

// layoutProblems lists, as a JSON array of sentences, what is wrong with the messages' layout:
// the page wider than the screen, a card past the screen's edge, a field's label or value wider
// than its box (running into the next column) or two fields overlapping, a label showing
// backticks, and a message time that is not "15:04 UTC".
const layoutProblems = `(() => {
  const problems = [];
  const vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw + 1) {
    problems.push('the page is ' + document.documentElement.scrollWidth + 'px wide on a ' + vw + 'px screen');
  }
  const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const card of document.querySelectorAll('li.msg .card')) {
    const c = card.getBoundingClientRect();
    const title = card.querySelector('.title').textContent.slice(0, 50);
    if (c.right > vw + 1) problems.push('the card "' + title + '" ends at ' + Math.round(c.right) + 'px, past the screen');
    const fields = [...card.querySelectorAll('.field')];
    for (const f of fields) {
      for (const part of f.children) {
        if (part.scrollWidth > part.clientWidth + 1) {
          problems.push('"' + part.textContent.slice(0, 50) + '" is ' + part.scrollWidth + 'px wide in a ' + part.clientWidth + 'px column');
        }
      }
    }
    for (let i = 0; i < fields.length; i++) {
      for (let j = i + 1; j < fields.length; j++) {
        if (overlap(fields[i].getBoundingClientRect(), fields[j].getBoundingClientRect())) {
          problems.push('the fields "' + fields[i].textContent.slice(0, 30) + '" and "' + fields[j].textContent.slice(0, 30) + '" overlap');
        }
      }
    }
  }
  for (const dt of document.querySelectorAll('.field dt')) {
    if (dt.textContent.includes('\x60')) problems.push('a label shows backticks: ' + dt.textContent);
  }
  for (const t of document.querySelectorAll('li.msg time')) {
    if (!/^\d\d:\d\d UTC$/.test(t.textContent)) problems.push('a message time reads "' + t.textContent + '", not 24-hour UTC');
  }
  return JSON.stringify(problems);
})()`

// TestWebChatHasNoSeriousAccessibilityViolations runs axe-core, the accessibility checker, in
// headless Chromium on the demo's web chat with real content, in light and in dark mode: a DM
// holding what Alice typed and the bot's answers, the approvals channel (selected in the
// sidebar) with an approval card and its buttons, and the request form open. A serious or
// critical violation fails the test (the colour contrast of text, a list item outside a list);
// moderate and minor ones are logged. Screenshots of each go to $ACCESSBOT_ARTIFACTS.
func TestWebChatHasNoSeriousAccessibilityViolations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	axe := axeScript(t)
	chromiumPath(t) // a missing browser fails (CI) or skips before anything is built
	bin := buildBinary(t)
	p := startDemo(t, bin, t.TempDir())
	defer p.stop(t)
	ctx, stopBrowser := startBrowser(t, 120*time.Second)
	defer stopBrowser()
	shots := artifacts(t)
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, body)
		}
	}
	// audit runs axe on the page as it is, in the colour scheme given, and returns the
	// violations.
	audit := func(what, scheme string) []axeViolation {
		t.Helper()
		step("emulate "+scheme+" mode", colorScheme(scheme))
		// The injected script stays on the page until it navigates; the chat never does.
		if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === 'object'`)); !ok {
			step("inject axe-core", chromedp.Evaluate[chromedp.Void](axe))
		}
		actx, cancel := context.WithTimeout(ctx, 60*time.Second)
		raw, err := chromedp.Run(actx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			t.Fatalf("axe.run on %s in %s mode: %v", what, scheme, err)
		}
		var violations []axeViolation
		if err := json.Unmarshal([]byte(raw), &violations); err != nil {
			t.Fatalf("axe.run on %s in %s mode: %v\n%s", what, scheme, err, raw)
		}
		return violations
	}
	// check audits the page in both colour schemes, fails on a serious or critical violation,
	// logs the others, and leaves a screenshot of each.
	check := func(view string) {
		t.Helper()
		for _, scheme := range []string{"light", "dark"} {
			for _, v := range audit(view, scheme) {
				var where []string
				for _, n := range v.Nodes {
					where = append(where, fmt.Sprintf("    %v: %s", n.Target, strings.ReplaceAll(n.FailureSummary, "\n", " ")))
				}
				msg := fmt.Sprintf("%s, %s mode: %s (%s): %s\n%s", view, scheme, v.ID, v.Impact, v.Help, strings.Join(where, "\n"))
				if v.Impact == "serious" || v.Impact == "critical" {
					t.Error(msg)
				} else {
					t.Log(msg)
				}
			}
			if b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
				file := filepath.Join(shots, fmt.Sprintf("web-chat-a11y-%s-%s.png", view, scheme))
				if err := os.WriteFile(file, b, 0o644); err == nil {
					t.Logf("screenshot: %s", file)
				}
			}
		}
	}

	// Alice's DM: what she typed and the bot's answers, one waiting for approval and one
	// approved automatically.
	step("Alice posts two requests",
		chromedp.Navigate(p.url),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access request prod-db 30m INC-7 checking the replica"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`li.msg.is-private[data-channel="dm:alice"] .card.tone-pending`)),
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access request staging-db 1m trying the demo"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`li.msg.is-private[data-channel="dm:alice"] .card.tone-success`)),
	)
	check("dm")

	// The approvals channel, selected in the sidebar: the request's card with its buttons.
	step("Alice opens #approvals",
		chromedp.Click(chromedp.CSS(`button.chan[data-channel="approvals"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li.msg[data-channel="approvals"] button[data-action="approve"]`)),
	)
	check("approvals")

	// The request form, open over the page.
	step("Alice opens the request form",
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access request"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#form-dialog[open] #in-resource`)),
	)
	check("form")

	// Help, whose labels are commands: on a wide screen and on a phone, every card fits, no
	// label runs into the next column or off the screen, labels show code rather than
	// backticks, and times read as the texts write them (24-hour UTC).
	step("close the form", chromedp.Click(chromedp.CSS("#form-cancel")), chromedp.WaitNotVisible(chromedp.CSS("#form-dialog")))
	step("Alice asks for help",
		chromedp.Click(chromedp.CSS("#composer-input")),
		chromedp.SendKeys(chromedp.CSS("#composer-input"), "/access help"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#message-list > li.msg:last-child .card dl.fields`)),
	)
	for _, size := range []struct {
		name          string
		width, height int64
	}{{"wide", 1280, 800}, {"phone", 360, 740}} {
		step("a "+size.name+" screen", viewport(size.width, size.height))
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](layoutProblems))
		if err != nil {
			t.Fatalf("measure the layout on a %s screen: %v", size.name, err)
		}
		var problems []string
		if err := json.Unmarshal([]byte(raw), &problems); err != nil {
			t.Fatalf("measure the layout on a %s screen: %v\n%s", size.name, err, raw)
		}
		for _, p := range problems {
			t.Errorf("on a %s screen (%dpx): %s", size.name, size.width, p)
		}
		if b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			file := filepath.Join(shots, "web-chat-help-"+size.name+".png")
			if err := os.WriteFile(file, b, 0o644); err == nil {
				t.Logf("screenshot: %s", file)
			}
		}
	}
	step("back to the default screen", viewport(0, 0))

	// The checker itself: the faults this test was written for, put back into the page, are
	// found. A message item straight inside the log (no list around it) and the grey "APP" tag
	// on a private message's background, as the chat had them.
	step("put the old faults back", chromedp.Evaluate[chromedp.Void](`(() => {
		const li = document.createElement('li');
		li.className = 'msg is-private';
		li.innerHTML = '<div class="meta"><span class="who">accessbot</span><span class="tag">APP</span></div>';
		// Through the CSSOM: the page's CSP refuses style attributes.
		li.querySelector('.tag').style.color = '#5b616e';
		document.getElementById('messages').append(li);
		li.scrollIntoView();
	})()`))
	found := map[string]bool{}
	for _, v := range audit("the page with the old faults", "light") {
		found[v.ID] = true
	}
	if !found["listitem"] || !found["color-contrast"] {
		t.Errorf("axe did not find a list item outside a list and the low contrast put into the page: found %v", found)
	}
}
