package sshdtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) { Main(m) }

func TestServerLetsInOnlyCertificatesFromItsCA(t *testing.T) {
	srv := Shared(t)
	key := NewUserKey(t)
	now := time.Now()
	cert, err := srv.SignCert(key.PublicKey(), 1, []string{srv.User}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	_, otherCA, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := ssh.NewSignerFromKey(otherCA)
	if err != nil {
		t.Fatal(err)
	}
	foreign := &ssh.Certificate{
		Key: key.PublicKey(), Serial: 2, CertType: ssh.UserCert, ValidPrincipals: []string{srv.User},
		ValidAfter: uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix()),
	}
	if err := foreign.SignCert(rand.Reader, otherSigner); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		user string
		cert string
		want bool
	}{
		{"a certificate from the CA logs in", srv.User, CertLine(cert), true},
		{"the key without a certificate is refused", srv.User, "", false},
		{"a certificate from another CA is refused", srv.User, CertLine(foreign), false},
		{"a certificate is refused for a user not among its principals", srv.OtherUser, CertLine(cert), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := srv.CanLogin(t, tt.user, key, tt.cert); got != tt.want {
				t.Fatalf("login as %s: got %v, want %v\n%s", tt.user, got, tt.want, srv.LogTail(10))
			}
		})
	}
}

func TestTrustCAAddsACAForTheNextLogin(t *testing.T) {
	srv := Shared(t)
	key := NewUserKey(t)
	_, ca, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(ca)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := &ssh.Certificate{
		Key: key.PublicKey(), Serial: 3, CertType: ssh.UserCert, ValidPrincipals: []string{srv.User},
		ValidAfter: uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix()),
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	if srv.CanLogin(t, srv.User, key, CertLine(cert)) {
		t.Fatal("login with a certificate from a CA not yet trusted worked")
	}
	if err := srv.TrustCA(signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if !srv.CanLogin(t, srv.User, key, CertLine(cert)) {
		t.Fatalf("login with a certificate from a CA just trusted was refused\n%s", srv.LogTail(10))
	}
}

func TestLoginTellsARefusalFromAServerThatIsGone(t *testing.T) {
	srv := Start(t)
	key := NewUserKey(t)
	if err := srv.Login(context.Background(), srv.User, key, ""); !errors.Is(err, ErrRefused) {
		t.Fatalf("login without a certificate: got %v, want ErrRefused", err)
	}
	srv.Stop()
	err := srv.Login(context.Background(), srv.User, key, "")
	if err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("login to a stopped server: got %v, want an error that is not ErrRefused", err)
	}
}

func TestServerRefusesEveryKeyWhenTheRevocationListIsMissing(t *testing.T) {
	// The adapter's docs rely on this: sshd treats an unreadable RevokedKeys file as "revoked".
	srv := Start(t)
	key := NewUserKey(t)
	now := time.Now()
	cert, err := srv.SignCert(key.PublicKey(), 4, []string{srv.User}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !srv.CanLogin(t, srv.User, key, CertLine(cert)) {
		t.Fatalf("login with a good certificate refused\n%s", srv.LogTail(10))
	}
	if err := os.Remove(srv.RevokedKeysPath); err != nil {
		t.Fatal(err)
	}
	if srv.CanLogin(t, srv.User, key, CertLine(cert)) {
		t.Fatal("login worked although the revocation list is missing")
	}
}
