package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

func TestBodiesAreSlashCommandsThatVerifyOnce(t *testing.T) {
	b := newCommandBodies(3, "https://hooks.slack.com/commands/T0FAKE/1/bench")
	v := slack.NewVerifier(signingSecret, clock.Real{})
	for n := range int64(8) {
		body := b.body(n)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatal(err)
		}
		want := "request " + resourceOf(n, 3) + " 1h INC-"
		if form.Get("command") != "/access" || !strings.HasPrefix(form.Get("text"), want) || form.Get("user_id") != userID(int(n%3)) {
			t.Errorf("body %d = %v", n, form)
		}
		ts, sig := slacktest.Sign(signingSecret, time.Now(), body)
		h := http.Header{}
		h.Set(slack.HeaderTimestamp, ts)
		h.Set(slack.HeaderSignature, sig)
		if err := v.Verify(context.Background(), h, body); err != nil {
			t.Errorf("body %d: %v", n, err)
		}
	}
	if resourceOf(0, 3) == resourceOf(3, 3) {
		t.Error("a user does not ask for both resources in turn")
	}
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(s, 50); p != 5 {
		t.Errorf("p50 = %v, want 5", p)
	}
	if p := percentile(s, 99); p != 10 {
		t.Errorf("p99 = %v, want 10", p)
	}
	if d := distribution(nil); d.N != 0 {
		t.Errorf("distribution(nil) = %+v", d)
	}
}

// TestBenchmarkRunsSmall runs both phases for a moment, with the background workers: every
// answer expected, every answered request committed (run fails otherwise).
func TestBenchmarkRunsSmall(t *testing.T) {
	var out, errs bytes.Buffer
	args := []string{"-clients", "4", "-users", "10", "-duration", "300ms", "-warmup", "100ms", "-workers", "-markdown", "-tmp", t.TempDir()}
	if err := run(context.Background(), args, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s%s", err, errs.String(), out.String())
	}
	got := out.String()
	for _, want := range []string{"| signed slash commands, 4 clients, 300ms | requests/s", "p99 latency", "every one committed"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "failures: none") != 2 {
		t.Errorf("some requests failed:\n%s", got)
	}
}
