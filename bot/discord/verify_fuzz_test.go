package discord_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/internal/clock"
)

// fuzzKey is a fixed test key, so a failing input reproduces.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// FuzzVerify feeds the verifier arbitrary headers and bodies, then the same body signed with
// the test key (Ed25519 over timestamp + body) at an arbitrary offset from now. It checks that
// Verify never panics, accepts unsigned input only when it carries a valid signature, accepts a
// correct signature within the window exactly once (again, or in upper-case hex, is a replay),
// refuses it outside the window, and refuses a signed request with any byte of its body, its
// timestamp or its signature changed. The seed corpus is in testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	ts := strconv.FormatInt(t0.Unix(), 10)
	f.Add(ts, strings.Repeat("00", 64), []byte(`{"type":1}`), int64(0), uint(0))
	f.Add("", "", []byte{}, int64(-300), uint(1))
	f.Add("+"+ts, strings.Repeat("ff", 64), []byte("\x00\xff"), int64(301), uint(63))
	f.Add("9223372036854775807", "zz", []byte("é"), int64(-1<<63), uint(1<<63))
	f.Fuzz(func(t *testing.T, tsText, sigHex string, body []byte, offset int64, flip uint) {
		pub := fuzzKey.Public().(ed25519.PublicKey)
		newVerifier := func() *discord.Verifier { return &discord.Verifier{Key: pub, Clock: clock.NewFake(t0)} }
		const window = int64(discord.DefaultWindow / time.Second)

		// Arbitrary headers: an error, unless they carry a valid signature of a fresh request.
		v := newVerifier()
		err := v.Verify(context.Background(), fuzzHeader(tsText, sigHex), body)
		if err == nil {
			sig, _ := hex.DecodeString(sigHex)
			if !ed25519.Verify(pub, append([]byte(tsText), body...), sig) {
				t.Fatalf("Verify(ts %q, sig %q) accepted a signature that is not the key's", tsText, sigHex)
			}
		} else if !fuzzRefusal(err) {
			t.Fatalf("Verify(ts %q, sig %q) = %v, not one of the Err* values", tsText, sigHex, err)
		}

		// The body signed at now+offset.
		v = newVerifier()
		at := t0.Add(time.Duration(offset%(2*window+10)) * time.Second)
		ts := strconv.FormatInt(at.Unix(), 10)
		sig := ed25519.Sign(fuzzKey, append([]byte(ts), body...))
		good := fuzzHeader(ts, hex.EncodeToString(sig))
		fresh := at.Sub(t0).Abs() <= discord.DefaultWindow

		// Any byte of the body, the timestamp or the signature changed: refused.
		if len(body) > 0 {
			b := append([]byte(nil), body...)
			b[flip%uint(len(b))] ^= byte(1 + flip%255)
			if err := v.Verify(context.Background(), good, b); err == nil || (fresh && !errors.Is(err, discord.ErrBadSignature)) {
				t.Fatalf("Verify of a changed body = %v, want %v", err, discord.ErrBadSignature)
			}
		}
		s := append([]byte(nil), sig...)
		s[flip%uint(len(s))] ^= byte(1 + flip%255)
		if err := v.Verify(context.Background(), fuzzHeader(ts, hex.EncodeToString(s)), body); err == nil || (fresh && !errors.Is(err, discord.ErrBadSignature)) {
			t.Fatalf("Verify of a changed signature = %v, want %v", err, discord.ErrBadSignature)
		}
		tsb := []byte(ts)
		tsb[flip%uint(len(tsb))] ^= byte(1 + flip%255)
		if err := v.Verify(context.Background(), fuzzHeader(string(tsb), hex.EncodeToString(sig)), body); err == nil {
			t.Fatalf("Verify with the timestamp changed to %q accepted it", tsb)
		}

		if !fresh {
			if err := v.Verify(context.Background(), good, body); !errors.Is(err, discord.ErrStale) {
				t.Fatalf("Verify %v off = %v, want %v", at.Sub(t0), err, discord.ErrStale)
			}
			return
		}
		if err := v.Verify(context.Background(), good, body); err != nil {
			t.Fatalf("Verify of a request signed %v off = %v", at.Sub(t0), err)
		}
		if err := v.Verify(context.Background(), good, body); !errors.Is(err, discord.ErrReplayed) {
			t.Fatalf("Verify of the same request again = %v, want %v", err, discord.ErrReplayed)
		}
		// The same signature spelt in upper-case hex is the same signature.
		if err := v.Verify(context.Background(), fuzzHeader(ts, strings.ToUpper(hex.EncodeToString(sig))), body); !errors.Is(err, discord.ErrReplayed) {
			t.Fatalf("Verify of the same signature in upper case = %v, want %v", err, discord.ErrReplayed)
		}
	})
}

func fuzzHeader(ts, sig string) http.Header {
	h := http.Header{}
	h.Set(discord.HeaderTimestamp, ts)
	h.Set(discord.HeaderSignature, sig)
	return h
}

func fuzzRefusal(err error) bool {
	for _, e := range []error{discord.ErrMissingSignature, discord.ErrMalformed, discord.ErrStale,
		discord.ErrBadSignature, discord.ErrReplayed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
