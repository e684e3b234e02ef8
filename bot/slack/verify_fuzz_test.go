package slack_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/internal/clock"
)

// FuzzVerify feeds the verifier arbitrary headers and bodies, then the same body signed as
// Slack signs it at an arbitrary offset from now. It checks that Verify never panics, accepts
// unsigned input only when it carries the real signature, accepts a correct signature within
// the window exactly once (the second time is a replay), refuses it outside the window, and
// refuses a signed request with any byte of its body or signature changed. The seed corpus is
// in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(t0.Unix(), 10)
	f.Add(ts, "v0=", []byte("token=x&command=%2Faccess&text=list"), int64(0), uint(0))
	f.Add("", "", []byte{}, int64(-300), uint(1))
	f.Add("+"+ts, "v0="+strings.Repeat("0", 64), []byte("\x00\xff"), int64(301), uint(7))
	f.Add("9223372036854775807", "v0=x", []byte("é"), int64(-1<<63), uint(1<<63))
	f.Fuzz(func(t *testing.T, tsText, sig string, body []byte, offset int64, flip uint) {
		v := slack.NewVerifier(signingSecret, clock.NewFake(t0))
		const window = int64(slack.DefaultWindow / time.Second)

		// Arbitrary headers: an error, unless they carry the very signature of a fresh request.
		h := http.Header{}
		h.Set(slack.HeaderTimestamp, tsText)
		h.Set(slack.HeaderSignature, sig)
		err := v.Verify(context.Background(), h, body)
		if err == nil && sig != fuzzSign(tsText, body) {
			t.Fatalf("Verify(ts %q, sig %q) accepted a signature that is not the secret's", tsText, sig)
		}
		if err != nil && !fuzzRefusal(err) {
			t.Fatalf("Verify(ts %q, sig %q) = %v, not one of the Err* values", tsText, sig, err)
		}

		// The body signed at now+offset.
		v = slack.NewVerifier(signingSecret, clock.NewFake(t0))
		at := t0.Add(time.Duration(offset%(2*window+10)) * time.Second)
		good := fuzzSignedAt(at, body)
		fresh := at.Sub(t0).Abs() <= slack.DefaultWindow

		// Any byte of the body or the signature changed: refused, whether fresh or not.
		if len(body) > 0 {
			b := append([]byte(nil), body...)
			b[flip%uint(len(b))] ^= byte(1 + flip%255)
			if err := v.Verify(context.Background(), good, b); err == nil || (fresh && !errors.Is(err, slack.ErrBadSignature)) {
				t.Fatalf("Verify of a changed body = %v, want %v", err, slack.ErrBadSignature)
			}
		}
		s := []byte(good.Get(slack.HeaderSignature))
		s[flip%uint(len(s))] ^= byte(1 + flip%255)
		bad := good.Clone()
		bad.Set(slack.HeaderSignature, string(s))
		if err := v.Verify(context.Background(), bad, body); err == nil {
			t.Fatalf("Verify of a changed signature %q accepted it", s)
		}

		if !fresh {
			if err := v.Verify(context.Background(), good, body); !errors.Is(err, slack.ErrStale) {
				t.Fatalf("Verify %v off = %v, want %v", at.Sub(t0), err, slack.ErrStale)
			}
			return
		}
		if err := v.Verify(context.Background(), good, body); err != nil {
			t.Fatalf("Verify of a request signed %v off = %v", at.Sub(t0), err)
		}
		if err := v.Verify(context.Background(), good, body); !errors.Is(err, slack.ErrReplayed) {
			t.Fatalf("Verify of the same request again = %v, want %v", err, slack.ErrReplayed)
		}
	})
}

func fuzzSignedAt(at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	h.Set(slack.HeaderTimestamp, ts)
	h.Set(slack.HeaderSignature, fuzzSign(ts, body))
	return h
}

// fuzzSign is Slack's signature, computed independently of the package and of slacktest.
func fuzzSign(ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func fuzzRefusal(err error) bool {
	for _, e := range []error{slack.ErrMissingSignature, slack.ErrMalformed, slack.ErrStale,
		slack.ErrBadSignature, slack.ErrReplayed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
