package slack_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/internal/clock"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var t0 = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// signed returns the headers Slack sends with body at time at, signed with secret.
func signed(secret string, at time.Time, body []byte) http.Header {
	ts, sig := slacktest.Sign(secret, at, body)
	h := http.Header{}
	h.Set(slack.HeaderTimestamp, ts)
	h.Set(slack.HeaderSignature, sig)
	return h
}

func TestVerifyAcceptsOnlyFreshRequestsSignedWithTheSecret(t *testing.T) {
	body := []byte("token=x&team_id=T1&user_id=U1&command=%2Faccess&text=list")
	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		want   error
	}{
		{"a request signed as Slack signs it", func() http.Header { return signed(signingSecret, t0, body) }, body, nil},
		{"a timestamp 4 minutes old", func() http.Header { return signed(signingSecret, t0.Add(-4*time.Minute), body) }, body, nil},
		{"another secret", func() http.Header { return signed("not-the-secret", t0, body) }, body, slack.ErrBadSignature},
		{"a body changed after signing", func() http.Header { return signed(signingSecret, t0, body) }, append([]byte("x"), body...), slack.ErrBadSignature},
		{"a timestamp 6 minutes old", func() http.Header { return signed(signingSecret, t0.Add(-6*time.Minute), body) }, body, slack.ErrStale},
		{"a timestamp 6 minutes ahead", func() http.Header { return signed(signingSecret, t0.Add(6*time.Minute), body) }, body, slack.ErrStale},
		{"no headers", func() http.Header { return http.Header{} }, body, slack.ErrMissingSignature},
		{"no signature", func() http.Header {
			h := signed(signingSecret, t0, body)
			h.Del(slack.HeaderSignature)
			return h
		}, body, slack.ErrMissingSignature},
		{"a timestamp that is not a number", func() http.Header {
			h := signed(signingSecret, t0, body)
			h.Set(slack.HeaderTimestamp, "yesterday")
			return h
		}, body, slack.ErrMalformed},
		{"a signature of another version", func() http.Header {
			h := signed(signingSecret, t0, body)
			h.Set(slack.HeaderSignature, "v1="+h.Get(slack.HeaderSignature)[3:])
			return h
		}, body, slack.ErrMalformed},
		{"a signature in upper case", func() http.Header {
			h := signed(signingSecret, t0, body)
			sig := []byte(h.Get(slack.HeaderSignature))
			for i := 3; i < len(sig); i++ {
				if sig[i] >= 'a' && sig[i] <= 'f' {
					sig[i] -= 'a' - 'A'
				}
			}
			h.Set(slack.HeaderSignature, string(sig))
			return h
		}, body, slack.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := slack.NewVerifier(signingSecret, clock.NewFake(t0))
			err := v.Verify(context.Background(), tt.header(), tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRefusesTheSameSignatureTwice(t *testing.T) {
	v := slack.NewVerifier(signingSecret, clock.NewFake(t0))
	body := []byte("payload=%7B%7D")
	h := signed(signingSecret, t0, body)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, slack.ErrReplayed) {
		t.Errorf("second Verify = %v, want ErrReplayed", err)
	}
	// A forged request does not enter the cache, so it cannot push a real one out.
	if err := v.Verify(context.Background(), signed("forged", t0, body), body); !errors.Is(err, slack.ErrBadSignature) {
		t.Errorf("forged Verify = %v", err)
	}
}

func TestAReplayAfterTheWindowIsStaleNotAccepted(t *testing.T) {
	clk := clock.NewFake(t0)
	v := slack.NewVerifier(signingSecret, clk)
	body := []byte("text=list")
	h := signed(signingSecret, t0, body)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5*time.Minute + time.Second)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, slack.ErrStale) {
		t.Errorf("Verify after the window = %v, want ErrStale", err)
	}
}

func TestTheReplayCacheIsBounded(t *testing.T) {
	v := &slack.Verifier{Secret: []byte(signingSecret), Clock: clock.NewFake(t0), MaxEntries: 2}
	bodies := [][]byte{[]byte("a=1"), []byte("a=2"), []byte("a=3")}
	for _, b := range bodies {
		if err := v.Verify(context.Background(), signed(signingSecret, t0, b), b); err != nil {
			t.Fatal(err)
		}
	}
	// The newest two are remembered; the oldest was dropped to keep the bound.
	if err := v.Verify(context.Background(), signed(signingSecret, t0, bodies[2]), bodies[2]); !errors.Is(err, slack.ErrReplayed) {
		t.Errorf("newest replay = %v, want ErrReplayed", err)
	}
	if err := v.Verify(context.Background(), signed(signingSecret, t0, bodies[0]), bodies[0]); err != nil {
		t.Errorf("oldest replay after eviction = %v, want accepted", err)
	}
}

func TestAVerifierWithoutASecretRefusesEverything(t *testing.T) {
	v := slack.NewVerifier("", clock.NewFake(t0))
	body := []byte("a=1")
	if err := v.Verify(context.Background(), signed("", t0, body), body); !errors.Is(err, slack.ErrNoSecret) {
		t.Errorf("Verify = %v, want ErrNoSecret", err)
	}
}

// Whatever the headers and body, Verify accepts only the signature Slack would compute, and
// never panics.
func FuzzVerifyAcceptsOnlyTheRightSignature(f *testing.F) {
	f.Add("1741944600", "v0=00", []byte("text=list"))
	f.Add("-1", "v0=", []byte{})
	f.Add("99999999999999999999", "v1=zz", []byte("payload=%7B%7D"))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		v := slack.NewVerifier(signingSecret, clock.NewFake(t0))
		h := http.Header{}
		h.Set(slack.HeaderTimestamp, ts)
		h.Set(slack.HeaderSignature, sig)
		if err := v.Verify(context.Background(), h, body); err == nil && !validAt(ts, sig, body) {
			t.Fatalf("accepted timestamp %q signature %q", ts, sig)
		}
	})
}

// validAt reports whether sig is Slack's signature of body at the Unix time ts.
func validAt(ts, sig string, body []byte) bool {
	var sec int64
	for _, c := range ts {
		if c < '0' || c > '9' {
			return false
		}
		sec = sec*10 + int64(c-'0')
	}
	_, want := slacktest.Sign(signingSecret, time.Unix(sec, 0), body)
	return want == sig && strconv.FormatInt(sec, 10) == ts
}

// The example from Slack's "Verifying requests from Slack" page, byte for byte.
func TestSlacksDocumentedExampleVerifies(t *testing.T) {
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	h := http.Header{}
	h.Set(slack.HeaderTimestamp, "1531420618")
	h.Set(slack.HeaderSignature, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	v := slack.NewVerifier("8f742231b10e8888abcd99yyyzzz85a5", clock.NewFake(time.Unix(1531420618, 0).Add(time.Minute)))
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Errorf("Verify(Slack's example) = %v", err)
	}
	if ts, sig := slacktest.Sign("8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0), body); ts != "1531420618" || sig != h.Get(slack.HeaderSignature) {
		t.Errorf("slacktest.Sign = %s %s, not Slack's", ts, sig)
	}
}

// storeDown is a replay store that cannot answer: the database is unreachable.
type storeDown struct{}

func (storeDown) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func TestVerifiersSharingAReplayStoreAcceptASignatureOnce(t *testing.T) {
	shared := &bot.ReplayCache{}
	one := &slack.Verifier{Secret: []byte(signingSecret), Clock: clock.NewFake(t0), Replay: shared}
	two := &slack.Verifier{Secret: []byte(signingSecret), Clock: clock.NewFake(t0), Replay: shared}
	body := []byte("payload=%7B%7D")
	h := signed(signingSecret, t0, body)
	if err := one.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("Verify on the first: %v", err)
	}
	if err := two.Verify(context.Background(), h, body); !errors.Is(err, slack.ErrReplayed) {
		t.Errorf("Verify of the same request on the second = %v, want ErrReplayed", err)
	}
}

func TestASignedRequestIsRefusedWhenTheReplayStoreCannotAnswer(t *testing.T) {
	v := &slack.Verifier{Secret: []byte(signingSecret), Clock: clock.NewFake(t0), Replay: storeDown{}}
	body := []byte("payload=%7B%7D")
	err := v.Verify(context.Background(), signed(signingSecret, t0, body), body)
	if !errors.Is(err, bot.ErrReplayUnchecked) {
		t.Errorf("Verify = %v, want ErrReplayUnchecked", err)
	}
}
