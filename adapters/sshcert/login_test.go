package sshcert

// Tests against a real sshd (internal/sshdtest) with the real ssh client: the certificate is
// what decides whether a login works.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/internal/sshdtest"
)

// grantID makes a grant ID unique to this run: the shared server and its revocation list
// outlive one run of a test (-count=N), and a serial revoked in one run must not refuse the next.
func grantID(name string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return name + "-" + hex.EncodeToString(b)
}

// newLoginAdapter builds an adapter that signs with the shared server's CA and writes the KRL
// the server reads.
func newLoginAdapter(t *testing.T, srv *sshdtest.Server, keys adapters.PublicKeySource, edit func(*Config)) *SSHCert {
	t.Helper()
	cfg := NewConfig()
	cfg.CAKey = Secret(srv.CAKeyPath)
	cfg.RevokedKeys = srv.RevokedKeysPath
	if edit != nil {
		edit(cfg)
	}
	a, err := New(*cfg, adapters.Env{Resource: "prod-ssh", Log: zerolog.Nop(), PublicKeys: keys})
	if err != nil {
		t.Fatalf("new adapter: %v", err)
	}
	return a
}

// certRecorder passes Grant, Revoke and Check to the adapter and remembers the certificate of
// each grant, so the harness can log in with it. It hides Extend on purpose: the kit's extend
// test expects an extension to succeed, and this adapter refuses every one (see
// TestExtendIsRefusedPermanently).
type certRecorder struct {
	a     *SSHCert
	mu    sync.Mutex
	certs map[string]string
}

func (r *certRecorder) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	lease, err := r.a.Grant(ctx, req)
	if err == nil && lease.Secret != nil {
		r.mu.Lock()
		r.certs[req.GrantID] = lease.Secret.Value
		r.mu.Unlock()
	}
	return lease, err
}

func (r *certRecorder) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	return r.a.Revoke(ctx, req)
}

func (r *certRecorder) Check(ctx context.Context) error { return r.a.Check(ctx) }

func (r *certRecorder) cert(grantID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.certs[grantID]
}

func TestConformanceWithRealLogins(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	rec := &certRecorder{a: newLoginAdapter(t, srv, keys, nil), certs: map[string]string{}}
	// Access is a login that works: with the grant's certificate when it made one, with the
	// bare key otherwise (which must never work).
	has := func(t *testing.T, s adapters.Subject, grantID string) bool {
		return srv.CanLogin(t, s.Account, keys.key(t, s.ID), rec.cert(grantID))
	}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: rec,
		Has:     has,
		// Every subject logs in as the server's user (the principal is the account), each with
		// a key of its own, so subjects stay independent.
		Subject: func(name string) adapters.Subject {
			s := adaptertest.Subject(name)
			s.Account = srv.User
			keys.key(t, s.ID)
			return s
		},
		Resource:       "prod-ssh",
		NativeExpiry:   true,
		NativeLifetime: 2 * time.Second,
		ExpiryWait:     10 * time.Second,
	})
}

// TestLoginFollowsTheGrant is the sequence: no login before the grant, a login during
// it, none after it expires by itself, none after an early revoke.
func TestLoginFollowsTheGrant(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	a := newLoginAdapter(t, srv, keys, nil)
	ctx := context.Background()
	subject := adapters.Subject{ID: "alice@example.com", Email: "alice@example.com", Account: srv.User}
	key := keys.key(t, subject.ID)

	t.Run("login fails before the grant", func(t *testing.T) {
		if srv.CanLogin(t, srv.User, key, "") {
			t.Fatal("the bare key logged in before any grant")
		}
		// A certificate for a window that has not begun is refused too.
		start := time.Now().Add(time.Hour)
		lease, err := a.Grant(ctx, adapters.GrantRequest{GrantID: grantID("g-seq-later"), Resource: "prod-ssh",
			Subject: subject, Start: start, Expires: start.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
			t.Fatal("a certificate for a grant starting in an hour logged in now")
		}
	})

	t.Run("login works during the grant and fails after it expires", func(t *testing.T) {
		// sshd checks validity against its own clock, so a short real window is the only way;
		// 3s leaves room for the first login under load, and the end is polled, not slept.
		start := time.Now()
		req := adapters.GrantRequest{GrantID: grantID("g-seq-expiry"), Resource: "prod-ssh", Subject: subject,
			Start: start, Expires: start.Add(3 * time.Second)}
		lease, err := a.Grant(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
			t.Fatalf("login during the grant refused\n%s", srv.LogTail(10))
		}
		// sshd logs the certificate's key ID at the login, and the key ID names the grant:
		// the server's log maps the login to its grant.
		want := `ID "accessbot:` + req.GrantID + `:`
		for logged := time.Now().Add(5 * time.Second); !strings.Contains(srv.LogTail(400), want); {
			if time.Now().After(logged) {
				t.Fatalf("sshd's log has no login with key ID %s\n%s", want, srv.LogTail(20))
			}
			time.Sleep(50 * time.Millisecond)
		}
		deadline := req.Expires.Add(10 * time.Second)
		for srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
			if time.Now().After(deadline) {
				t.Fatal("login still works 10s after the grant expired")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if now := time.Now(); now.Before(req.Expires.Truncate(time.Second)) {
			t.Fatalf("login refused at %s, before the certificate's end %s", now, req.Expires.Truncate(time.Second))
		}
		// The scheduler still revokes at expiry: nothing is left to do, and the serial does
		// not join the list (other tests write it meanwhile, so only the serial is checked).
		if err := a.Revoke(ctx, revokeOf(req, lease)); err != nil {
			t.Fatalf("revoke after expiry: %v", err)
		}
		if data, _ := os.ReadFile(srv.RevokedKeysPath); len(data) > 0 {
			serial := parseCert(t, lease.Secret.Value).Serial
			if slices.Contains(listedSerials(t, srv.RevokedKeysPath, a.CAPublicKey()), serial) {
				t.Fatal("revoking an expired certificate added its serial to the KRL")
			}
		}
	})

	t.Run("login fails after an early revoke", func(t *testing.T) {
		start := time.Now()
		req := adapters.GrantRequest{GrantID: grantID("g-seq-revoke"), Resource: "prod-ssh", Subject: subject,
			Start: start, Expires: start.Add(time.Hour)}
		lease, err := a.Grant(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
			t.Fatalf("login during the grant refused\n%s", srv.LogTail(10))
		}
		if err := a.Revoke(ctx, revokeOf(req, lease)); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
			t.Fatal("login works after an early revoke")
		}
		// A second Grant for the same grant (a retry whose first answer was lost) gives a
		// certificate with the same serial, so the revocation covers it too.
		again, err := a.Grant(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if srv.CanLogin(t, srv.User, key, again.Secret.Value) {
			t.Fatal("a certificate signed again for a revoked grant logs in")
		}
	})
}

func TestCertificateLogsInOnlyAsItsPrincipals(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	a := newLoginAdapter(t, srv, keys, nil)
	now := time.Now()
	grant := func(account string) (string, *sshdtest.UserKey) {
		s := adapters.Subject{ID: account + "-person@example.com", Account: account}
		key := keys.key(t, s.ID)
		lease, err := a.Grant(context.Background(), adapters.GrantRequest{GrantID: grantID("g-principal-" + account),
			Resource: "prod-ssh", Subject: s, Start: now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return lease.Secret.Value, key
	}
	certX, keyX := grant(srv.User)
	certY, keyY := grant(srv.OtherUser)
	tests := []struct {
		name string
		user string
		cert string
		key  *sshdtest.UserKey
		want bool
	}{
		{"a certificate for X logs in as X", srv.User, certX, keyX, true},
		{"a certificate for X does not log in as Y", srv.OtherUser, certX, keyX, false},
		{"a certificate for Y logs in as Y", srv.OtherUser, certY, keyY, true},
		{"a certificate for Y does not log in as X", srv.User, certY, keyY, false},
		{"a certificate does not work with another person's key", srv.User, certX, keyY, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := srv.CanLogin(t, tt.user, tt.key, tt.cert); got != tt.want {
				t.Fatalf("login as %s: got %v, want %v\n%s", tt.user, got, tt.want, srv.LogTail(10))
			}
		})
	}
}

func TestTamperedCertificatesAreRefused(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	a := newLoginAdapter(t, srv, keys, nil)
	subject := adapters.Subject{ID: "mallory@example.com", Account: srv.User}
	key := keys.key(t, subject.ID)
	now := time.Now()
	req := adapters.GrantRequest{GrantID: grantID("g-tamper"), Resource: "prod-ssh", Subject: subject, Start: now, Expires: now.Add(time.Hour)}
	lease, err := a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
		t.Fatalf("the untouched certificate does not log in\n%s", srv.LogTail(10))
	}
	signer, err := ssh.NewCertSigner(parseCert(t, lease.Secret.Value), key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.CanLoginWithSigner(t, srv.User, signer) {
		t.Fatalf("the untouched certificate does not log in with the Go client\n%s", srv.LogTail(10))
	}
	if err := a.Revoke(context.Background(), revokeOf(req, lease)); err != nil {
		t.Fatal(err)
	}

	// Each edit keeps the CA's signature, which then no longer matches. The ssh client drops
	// such a certificate before sending it; the Go client sends it anyway, so sshd's own
	// check is tested too.
	tests := []struct {
		name string
		edit func(*ssh.Certificate)
	}{
		{"another serial, to dodge the revocation", func(c *ssh.Certificate) { c.Serial++ }},
		{"a later expiry", func(c *ssh.Certificate) { c.ValidBefore += 86400 }},
		{"an added principal", func(c *ssh.Certificate) { c.ValidPrincipals = append(c.ValidPrincipals, srv.OtherUser) }},
		{"another key ID", func(c *ssh.Certificate) { c.KeyId = "innocent" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := parseCert(t, lease.Secret.Value)
			tt.edit(cert)
			if srv.CanLogin(t, srv.User, key, sshdtest.CertLine(cert)) {
				t.Fatal("a tampered certificate logged in with the ssh client")
			}
			signer, err := ssh.NewCertSigner(cert, key.Signer)
			if err != nil {
				t.Fatal(err)
			}
			if srv.CanLoginWithSigner(t, srv.User, signer) {
				t.Fatal("sshd accepted a tampered certificate")
			}
		})
	}

	t.Run("a certificate signed by another CA for the same serial", func(t *testing.T) {
		other := newCA(t, nil)
		cert := parseCert(t, lease.Secret.Value)
		cert.Serial++
		if err := cert.SignCert(rand.Reader, other.signer); err != nil {
			t.Fatal(err)
		}
		if srv.CanLogin(t, srv.User, key, sshdtest.CertLine(cert)) {
			t.Fatal("a certificate from an untrusted CA logged in")
		}
	})
}

func TestSourceAddressLimitsWhereACertificateWorks(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	for _, tt := range []struct {
		name, source string
		want         bool
	}{
		{"a certificate for 127.0.0.1 logs in from it", "127.0.0.1/32", true},
		{"a certificate for another network is refused", "192.0.2.0/24", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newLoginAdapter(t, srv, keys, func(c *Config) { c.SourceAddress = tt.source })
			subject := adapters.Subject{ID: "src-" + tt.source + "@example.com", Account: srv.User}
			key := keys.key(t, subject.ID)
			now := time.Now()
			lease, err := a.Grant(context.Background(), adapters.GrantRequest{GrantID: grantID("g-src-" + tt.source),
				Resource: "prod-ssh", Subject: subject, Start: now, Expires: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if got := srv.CanLogin(t, srv.User, key, lease.Secret.Value); got != tt.want {
				t.Fatalf("login: got %v, want %v\n%s", got, tt.want, srv.LogTail(10))
			}
		})
	}
}

func TestECDSAAndRSACertificateAuthoritiesLogIn(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Shared(t)
	keys := newKeyring(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  any
	}{{"ecdsa", ecKey}, {"rsa", rsaKey}} {
		t.Run(tt.name, func(t *testing.T) {
			block, err := ssh.MarshalPrivateKey(tt.key, "")
			if err != nil {
				t.Fatal(err)
			}
			caPath := filepath.Join(t.TempDir(), "ca")
			if err := os.WriteFile(caPath, pem.EncodeToMemory(block), 0o600); err != nil {
				t.Fatal(err)
			}
			// The adapter writes the server's list too, which then holds serials of two CAs.
			a := newLoginAdapter(t, srv, keys, func(c *Config) { c.CAKey = Secret(caPath) })
			if err := srv.TrustCA(a.CAPublicKey()); err != nil {
				t.Fatal(err)
			}
			subject := adapters.Subject{ID: tt.name + "-ca@example.com", Account: srv.User}
			key := keys.key(t, subject.ID)
			now := time.Now()
			req := adapters.GrantRequest{GrantID: grantID("g-ca-" + tt.name), Resource: "prod-ssh", Subject: subject, Start: now, Expires: now.Add(time.Hour)}
			lease, err := a.Grant(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
				t.Fatalf("login with a certificate from the %s CA refused\n%s", tt.name, srv.LogTail(10))
			}
			// Its revocation lands in the shared list next to the ed25519 CA's serials.
			if err := a.Revoke(context.Background(), revokeOf(req, lease)); err != nil {
				t.Fatal(err)
			}
			if srv.CanLogin(t, srv.User, key, lease.Secret.Value) {
				t.Fatalf("login with a revoked certificate from the %s CA works", tt.name)
			}
		})
	}
}
