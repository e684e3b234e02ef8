package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
)

// FuzzVerify feeds Verify arbitrary secrets, timestamps, bodies and signatures, then the body
// signed at an arbitrary offset from now. It checks that Verify never panics, accepts only the
// real signature of a timestamp within the window (the window computed here in exact integer
// arithmetic), accepts a correct signature within the window and refuses it outside, and refuses
// a signed request with any byte of its body, timestamp or signature changed. Verify keeps no
// state, so it has no replay check of its own: within the window a receiver must deduplicate.
// The seed corpus is in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("key"), "1700000000", []byte(`{"action":"grant"}`), "v1=", int64(0), uint(0))
	f.Add([]byte{}, "", []byte{}, "", int64(-300), uint(1))
	f.Add([]byte("k\x00"), "+1700000000", []byte("\x00\xff"), "v1=zz", int64(301), uint(7))
	f.Add([]byte("é"), "-9223372036854775808", []byte("é"), "v1", int64(1<<62), uint(1<<63))
	f.Fuzz(func(t *testing.T, secret []byte, ts string, body []byte, sig string, offset int64, flip uint) {
		const window = 5 * time.Minute
		now := time.Unix(1_700_000_000, 0)

		// Arbitrary input: refused unless it is the real signature of a fresh timestamp.
		err := webhook.Verify(secret, ts, body, sig, now, window)
		if err != nil && !errors.Is(err, webhook.ErrBadSignature) && !errors.Is(err, webhook.ErrBadTimestamp) {
			t.Fatalf("Verify = %v, not one of its Err* values", err)
		}
		if err == nil && (!fuzzFresh(ts, now, window) || sig != fuzzSign(secret, ts, body)) {
			t.Fatalf("Verify(ts %q, sig %q) accepted it", ts, sig)
		}

		// The body signed now+offset, with the offset as it is and brought near the window.
		for _, off := range []int64{offset, offset % (2*int64(window/time.Second) + 10)} {
			ts := strconv.FormatInt(now.Unix()+off, 10)
			if off > 0 && now.Unix()+off < 0 {
				continue // no such timestamp
			}
			good := fuzzSign(secret, ts, body)
			ok := fuzzFresh(ts, now, window)
			err := webhook.Verify(secret, ts, body, good, now, window)
			switch {
			case ok && err != nil:
				t.Fatalf("Verify of a request signed %ds off = %v", off, err)
			case !ok && !errors.Is(err, webhook.ErrBadTimestamp):
				t.Fatalf("Verify of a request signed %ds off = %v, want %v", off, err, webhook.ErrBadTimestamp)
			}
			if len(body) > 0 {
				b := append([]byte(nil), body...)
				b[flip%uint(len(b))] ^= byte(1 + flip%255)
				if err := webhook.Verify(secret, ts, b, good, now, window); err == nil {
					t.Fatalf("Verify of a changed body accepted it")
				}
			}
			s := []byte(good)
			s[flip%uint(len(s))] ^= byte(1 + flip%255)
			if err := webhook.Verify(secret, ts, body, string(s), now, window); err == nil {
				t.Fatalf("Verify of a changed signature %q accepted it", s)
			}
			tsb := []byte(ts)
			tsb[flip%uint(len(tsb))] ^= byte(1 + flip%255)
			if err := webhook.Verify(secret, string(tsb), body, good, now, window); err == nil {
				t.Fatalf("Verify with the timestamp changed to %q accepted it", tsb)
			}
		}
	})
}

// fuzzFresh says whether ts is a decimal unix time within window of now, in exact arithmetic.
func fuzzFresh(ts string, now time.Time, window time.Duration) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	d := new(big.Int).Sub(big.NewInt(now.Unix()), big.NewInt(n))
	return d.Abs(d).Cmp(big.NewInt(int64(window/time.Second))) <= 0
}

// fuzzSign is the webhook signature, computed independently of the package.
func fuzzSign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
