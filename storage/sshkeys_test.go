package storage

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/sshcert"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// newSSHKey makes a key pair and returns its public half as bot.ParseSSHKey reads it, for person,
// added at `at`.
func newSSHKey(t *testing.T, person, comment string, at time.Time) bot.SSHKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
	k, err := bot.ParseSSHKey(line)
	if err != nil {
		t.Fatalf("ParseSSHKey: %v", err)
	}
	k.Person, k.AddedAt = person, at
	return k
}

func sshKeyEvents(t *testing.T, db *DB) []audit.Event {
	t.Helper()
	var out []audit.Event
	for _, e := range scanAll(t, db, audit.Filter{}) {
		if e.Type == audit.SSHKeyAdded || e.Type == audit.SSHKeyRemoved {
			out = append(out, e)
		}
	}
	return out
}

func fingerprints(keys []bot.SSHKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Fingerprint)
	}
	return out
}

func TestSSHKeysAreAddedListedNewestFirstAndRemovedWithAnAuditEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		const alice, bob = "alice@example.com", "bob@example.com"
		k1 := newSSHKey(t, alice, "alice@laptop", base)
		k2 := newSSHKey(t, alice, "", base.Add(time.Minute))
		kb := newSSHKey(t, bob, "bob@desk", base)
		for _, k := range []bot.SSHKey{k1, k2, kb} {
			if err := db.AddPublicKey(ctx, k); err != nil {
				t.Fatalf("AddPublicKey(%s): %v", k.Fingerprint, err)
			}
		}
		keys, err := db.SSHKeys(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fingerprints(keys), []string{k2.Fingerprint, k1.Fingerprint}; !slices.Equal(got, want) {
			t.Fatalf("SSHKeys(alice) = %v, want %v (newest first)", got, want)
		}
		k1UTC := k1
		k1UTC.AddedAt = k1.AddedAt.UTC()
		if got := keys[1]; got != k1UTC {
			t.Errorf("stored key %+v, want %+v (times in UTC)", got, k1UTC)
		}
		pub, err := db.PublicKeys(ctx, alice)
		if err != nil || !slices.Equal(pub, []string{k2.Key, k1.Key}) {
			t.Errorf("PublicKeys(alice) = %v, %v; want %v", pub, err, []string{k2.Key, k1.Key})
		}
		if none, err := db.PublicKeys(ctx, "carol@example.com"); err != nil || none == nil || len(none) != 0 {
			t.Errorf("PublicKeys(carol) = %#v, %v; want an empty slice", none, err)
		}

		// Nobody removes another person's key: bob naming alice's fingerprint finds none of his.
		if _, err := db.RemovePublicKey(ctx, bob, k1.Fingerprint, base.Add(2*time.Minute)); !errors.Is(err, bot.ErrUnknownKey) {
			t.Fatalf("bob removing alice's key: %v, want ErrUnknownKey", err)
		}
		removed, err := db.RemovePublicKey(ctx, alice, k1.Fingerprint, base.Add(3*time.Minute))
		if err != nil || removed != k1UTC {
			t.Fatalf("RemovePublicKey(alice, k1) = %+v, %v; want %+v", removed, err, k1UTC)
		}
		if _, err := db.RemovePublicKey(ctx, alice, k1.Fingerprint, base.Add(4*time.Minute)); !errors.Is(err, bot.ErrUnknownKey) {
			t.Errorf("removing it again: %v, want ErrUnknownKey", err)
		}
		if keys, _ := db.SSHKeys(ctx, alice); !slices.Equal(fingerprints(keys), []string{k2.Fingerprint}) {
			t.Errorf("alice's keys after the removal: %v", fingerprints(keys))
		}
		if keys, _ := db.SSHKeys(ctx, bob); !slices.Equal(fingerprints(keys), []string{kb.Fingerprint}) {
			t.Errorf("bob's keys: %v", fingerprints(keys))
		}

		type rec struct{ typ, actor, fp string }
		var got []rec
		for _, e := range sshKeyEvents(t, db) {
			if len(e.Data) != 1 || e.Subject != e.Actor {
				t.Errorf("event %s: data %v, subject %q; want only the fingerprint, about the actor", e.Type, e.Data, e.Subject)
			}
			got = append(got, rec{e.Type, e.Actor, e.Data["fingerprint"]})
		}
		want := []rec{{audit.SSHKeyAdded, alice, k1.Fingerprint}, {audit.SSHKeyAdded, alice, k2.Fingerprint},
			{audit.SSHKeyAdded, bob, kb.Fingerprint}, {audit.SSHKeyRemoved, alice, k1.Fingerprint}}
		if !slices.Equal(got, want) {
			t.Errorf("audit events\n got %v\nwant %v", got, want)
		}
		if rep, err := audit.Verify(ctx, db, nil); err != nil || !rep.Intact() {
			t.Errorf("the audit chain does not verify: %+v, %v", rep, err)
		}
	})
}

func TestSSHKeyDuplicatesAndTheLimitAreRefusedWithoutAnEvent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		const alice = "alice@example.com"
		first := newSSHKey(t, alice, "one", base)
		if err := db.AddPublicKey(ctx, first); err != nil {
			t.Fatal(err)
		}
		again := first
		again.Comment, again.AddedAt = "same key, new comment", base.Add(time.Minute)
		if err := db.AddPublicKey(ctx, again); !errors.Is(err, bot.ErrKeyExists) {
			t.Fatalf("adding the same key again: %v, want ErrKeyExists", err)
		}
		for i := 1; i < bot.MaxSSHKeys; i++ {
			if err := db.AddPublicKey(ctx, newSSHKey(t, alice, "", base.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatalf("key %d: %v", i+1, err)
			}
		}
		if err := db.AddPublicKey(ctx, newSSHKey(t, alice, "", base.Add(time.Hour))); !errors.Is(err, bot.ErrTooManyKeys) {
			t.Fatalf("key %d: %v, want ErrTooManyKeys", bot.MaxSSHKeys+1, err)
		}
		if keys, _ := db.SSHKeys(ctx, alice); len(keys) != bot.MaxSSHKeys {
			t.Errorf("alice has %d keys, want %d", len(keys), bot.MaxSSHKeys)
		}
		if n := len(sshKeyEvents(t, db)); n != bot.MaxSSHKeys {
			t.Errorf("%d sshkey events, want %d: refusals record nothing", n, bot.MaxSSHKeys)
		}
		// Someone else's keys do not count.
		if err := db.AddPublicKey(ctx, newSSHKey(t, "bob@example.com", "", base)); err != nil {
			t.Errorf("bob's first key: %v", err)
		}
	})
}

func TestConcurrentSSHKeyAddsStopAtTheLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		const n = 3 * bot.MaxSSHKeys
		keys := make([]bot.SSHKey, n)
		for i := range keys {
			keys[i] = newSSHKey(t, "alice@example.com", "", base.Add(time.Duration(i)*time.Second))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() { errs[i] = db.AddPublicKey(ctx, keys[i]) })
		}
		wg.Wait()
		added := 0
		for i, err := range errs {
			switch {
			case err == nil:
				added++
			case !errors.Is(err, bot.ErrTooManyKeys):
				t.Errorf("add %d: %v", i, err)
			}
		}
		stored, _ := db.SSHKeys(ctx, "alice@example.com")
		if added != bot.MaxSSHKeys || len(stored) != bot.MaxSSHKeys {
			t.Errorf("%d adds succeeded and %d keys are stored; want %d", added, len(stored), bot.MaxSSHKeys)
		}
	})
}

func TestAddPublicKeyRefusesARowWhoseFingerprintIsNotItsKey(t *testing.T) {
	db, ctx := newDB(t, backends[0]), testCtx(t)
	k := newSSHKey(t, "alice@example.com", "", base)
	other := newSSHKey(t, "alice@example.com", "", base)
	k.Fingerprint = other.Fingerprint
	if err := db.AddPublicKey(ctx, k); !errors.Is(err, grants.ErrInvalid) {
		t.Errorf("mismatched fingerprint: %v, want ErrInvalid", err)
	}
	k = newSSHKey(t, "", "", base)
	if err := db.AddPublicKey(ctx, k); !errors.Is(err, grants.ErrInvalid) {
		t.Errorf("no person: %v, want ErrInvalid", err)
	}
	if _, err := db.RemovePublicKey(ctx, "alice@example.com", "", base); !errors.Is(err, grants.ErrInvalid) {
		t.Errorf("remove without a fingerprint: %v, want ErrInvalid", err)
	}
}

// staticKeys is a PublicKeySource of fixed keys, as the config's ssh_keys are.
type staticKeys map[string][]string

func (s staticKeys) PublicKeys(_ context.Context, id string) ([]string, error) { return s[id], nil }

// The whole path, short of sshd: a key added through the store is the key the sshcert adapter
// signs, ahead of a key from the config, and after its removal the config's key is signed.
func TestTheSSHCertAdapterSignsTheKeyAddedThroughTheStore(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		db, ctx := newDB(t, b), testCtx(t)
		const alice = "alice@example.com"
		_, caKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(caKey, "test CA")
		if err != nil {
			t.Fatal(err)
		}
		cfgKeyPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfgKey, err := ssh.NewPublicKey(&cfgKeyPriv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		fromConfig := staticKeys{alice: {strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cfgKey)))}}

		cfg := sshcert.NewConfig()
		cfg.CAKey = sshcert.Secret(pem.EncodeToMemory(block))
		cfg.RevokedKeys = filepath.Join(t.TempDir(), "revoked_keys")
		a, err := sshcert.New(*cfg, adapters.Env{Resource: "prod-ssh", Log: zerolog.Nop(),
			PublicKeys: adapters.PublicKeySources(db, fromConfig)})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		a.Now = func() time.Time { return now }
		signedFor := func(grantID string) string {
			t.Helper()
			lease, err := a.Grant(ctx, adapters.GrantRequest{GrantID: grantID, Resource: "prod-ssh",
				Subject: adapters.Subject{ID: alice, Email: alice, Account: "alice"}, Start: now, Expires: now.Add(time.Hour)})
			if err != nil {
				t.Fatalf("grant %s: %v", grantID, err)
			}
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(lease.Secret.Value))
			if err != nil {
				t.Fatal(err)
			}
			cert, ok := pk.(*ssh.Certificate)
			if !ok {
				t.Fatalf("the secret is a %s, not a certificate", pk.Type())
			}
			if fp := ssh.FingerprintSHA256(cert.Key); fp != lease.Data[sshcert.LeaseFingerprint] {
				t.Errorf("lease fingerprint %s, certificate's key %s", lease.Data[sshcert.LeaseFingerprint], fp)
			}
			return ssh.FingerprintSHA256(cert.Key)
		}

		if got := signedFor("g-1"); got != ssh.FingerprintSHA256(cfgKey) {
			t.Errorf("without a stored key, signed %s; want the config's key %s", got, ssh.FingerprintSHA256(cfgKey))
		}
		older := newSSHKey(t, alice, "old laptop", now.Add(-time.Hour))
		newer := newSSHKey(t, alice, "new laptop", now)
		for _, k := range []bot.SSHKey{older, newer} {
			if err := db.AddPublicKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if got := signedFor("g-2"); got != newer.Fingerprint {
			t.Errorf("signed %s; want the newest stored key %s", got, newer.Fingerprint)
		}
		for _, k := range []bot.SSHKey{newer, older} {
			if _, err := db.RemovePublicKey(ctx, alice, k.Fingerprint, now); err != nil {
				t.Fatal(err)
			}
		}
		if got := signedFor("g-3"); got != ssh.FingerprintSHA256(cfgKey) {
			t.Errorf("after removing the stored keys, signed %s; want the config's key", got)
		}
	})
}
