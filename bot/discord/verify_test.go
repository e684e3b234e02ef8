package discord_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/internal/clock"
)

var t0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func signed(key ed25519.PrivateKey, at time.Time, body []byte) http.Header {
	ts, sig := discordtest.Sign(key, at, body)
	h := http.Header{}
	h.Set(discord.HeaderTimestamp, ts)
	h.Set(discord.HeaderSignature, sig)
	return h
}

func newVerifier(t *testing.T, clk clock.Clock) (*discord.Verifier, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := discord.ParsePublicKey(hex.EncodeToString(pub))
	if err != nil {
		t.Fatal(err)
	}
	return &discord.Verifier{Key: key, Clock: clk}, priv
}

func TestVerifyAcceptsOnlyFreshRequestsSignedWithTheApplicationKey(t *testing.T) {
	clk := clock.NewFake(t0)
	body := []byte(`{"type":1}`)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name   string
		header func(key ed25519.PrivateKey) http.Header
		body   []byte
		want   error
	}{
		{"signed now", func(k ed25519.PrivateKey) http.Header { return signed(k, t0, body) }, body, nil},
		{"signed four minutes ago", func(k ed25519.PrivateKey) http.Header { return signed(k, t0.Add(-4*time.Minute), body) }, body, nil},
		{"signed by another key", func(ed25519.PrivateKey) http.Header { return signed(other, t0, body) }, body, discord.ErrBadSignature},
		{"a body changed after signing", func(k ed25519.PrivateKey) http.Header { return signed(k, t0, body) }, []byte(`{"type":2}`), discord.ErrBadSignature},
		{"a timestamp changed after signing", func(k ed25519.PrivateKey) http.Header {
			h := signed(k, t0, body)
			h.Set(discord.HeaderTimestamp, strconv.FormatInt(t0.Unix()+1, 10))
			return h
		}, body, discord.ErrBadSignature},
		{"signed six minutes ago", func(k ed25519.PrivateKey) http.Header { return signed(k, t0.Add(-6*time.Minute), body) }, body, discord.ErrStale},
		{"signed six minutes ahead", func(k ed25519.PrivateKey) http.Header { return signed(k, t0.Add(6*time.Minute), body) }, body, discord.ErrStale},
		{"without headers", func(ed25519.PrivateKey) http.Header { return http.Header{} }, body, discord.ErrMissingSignature},
		{"a signature that is not hex", func(k ed25519.PrivateKey) http.Header {
			h := signed(k, t0, body)
			h.Set(discord.HeaderSignature, "zz")
			return h
		}, body, discord.ErrMalformed},
		{"a short signature", func(k ed25519.PrivateKey) http.Header {
			h := signed(k, t0, body)
			h.Set(discord.HeaderSignature, h.Get(discord.HeaderSignature)[:64])
			return h
		}, body, discord.ErrMalformed},
		{"a timestamp that is not a number", func(k ed25519.PrivateKey) http.Header {
			h := signed(k, t0, body)
			h.Set(discord.HeaderTimestamp, "yesterday")
			return h
		}, body, discord.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, key := newVerifier(t, clk)
			err := v.Verify(context.Background(), tt.header(key), tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRefusesTheSameSignatureTwice(t *testing.T) {
	v, key := newVerifier(t, clock.NewFake(t0))
	body := []byte(`{"type":2,"id":"1"}`)
	h := signed(key, t0, body)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, discord.ErrReplayed) {
		t.Errorf("second Verify = %v, want ErrReplayed", err)
	}
}

func TestAReplayAfterTheWindowIsStaleAndTheCacheForgetsIt(t *testing.T) {
	clk := clock.NewFake(t0)
	v, key := newVerifier(t, clk)
	body := []byte(`{"type":2}`)
	h := signed(key, t0, body)
	if err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatal(err)
	}
	clk.Advance(6 * time.Minute)
	if err := v.Verify(context.Background(), h, body); !errors.Is(err, discord.ErrStale) {
		t.Errorf("Verify after the window = %v, want ErrStale", err)
	}
}

func TestTheReplayCacheIsBounded(t *testing.T) {
	v, key := newVerifier(t, clock.NewFake(t0))
	v.MaxEntries = 2
	var first http.Header
	var firstBody []byte
	for i := 0; i < 3; i++ {
		body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
		h := signed(key, t0, body)
		if i == 0 {
			first, firstBody = h, body
		}
		if err := v.Verify(context.Background(), h, body); err != nil {
			t.Fatal(err)
		}
	}
	// The first entry was dropped to make room: it is the documented cost of the bound.
	if err := v.Verify(context.Background(), first, firstBody); err != nil {
		t.Errorf("Verify of the dropped entry = %v", err)
	}
}

func TestAVerifierWithoutAKeyRefusesEverything(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	v := &discord.Verifier{}
	body := []byte(`{"type":1}`)
	if err := v.Verify(context.Background(), signed(priv, time.Now(), body), body); !errors.Is(err, discord.ErrNoKey) {
		t.Errorf("Verify = %v, want ErrNoKey", err)
	}
	if _, err := discord.ParsePublicKey("abcd"); err == nil {
		t.Error("ParsePublicKey accepted a short key")
	}
}

// The test key signs as Discord does: the fake's sender and the verifier agree, independently.
func TestTheFakesSignatureVerifiesWithItsPublicKey(t *testing.T) {
	key, err := discord.ParsePublicKey(discordtest.PublicKeyHex())
	if err != nil {
		t.Fatal(err)
	}
	v := &discord.Verifier{Key: key, Clock: clock.NewFake(t0)}
	body := discordtest.Ping().JSON()
	if err := v.Verify(context.Background(), signed(discordtest.PrivateKey(), t0, body), body); err != nil {
		t.Errorf("Verify = %v", err)
	}
}

// storeDown is a replay store that cannot answer: the database is unreachable.
type storeDown struct{}

func (storeDown) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func TestVerifiersSharingAReplayStoreAcceptASignatureOnce(t *testing.T) {
	shared := &bot.ReplayCache{}
	one, priv := newVerifier(t, clock.NewFake(t0))
	two := &discord.Verifier{Key: one.Key, Clock: clock.NewFake(t0), Replay: shared}
	one.Replay = shared
	body := []byte(`{"type":1}`)
	h := signed(priv, t0, body)
	if err := one.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("Verify on the first: %v", err)
	}
	if err := two.Verify(context.Background(), h, body); !errors.Is(err, discord.ErrReplayed) {
		t.Errorf("Verify of the same request on the second = %v, want ErrReplayed", err)
	}
}

func TestASignedRequestIsRefusedWhenTheReplayStoreCannotAnswer(t *testing.T) {
	v, priv := newVerifier(t, clock.NewFake(t0))
	v.Replay = storeDown{}
	body := []byte(`{"type":1}`)
	if err := v.Verify(context.Background(), signed(priv, t0, body), body); !errors.Is(err, bot.ErrReplayUnchecked) {
		t.Errorf("Verify = %v, want ErrReplayUnchecked", err)
	}
}
