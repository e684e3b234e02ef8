package sshcert

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/tmpl"
)

// SecretKind is the Kind of the Secret a grant returns.
const SecretKind = "ssh-certificate"

// Lease data keys.
const (
	LeaseSerial      = "serial"
	LeaseFingerprint = "fingerprint"
	LeaseValidBefore = "valid_before"
	LeaseKeyID       = "key_id"
)

// ErrNoKey is wrapped by the permanent error a grant returns when the person has no public key.
var ErrNoKey = errors.New("no SSH public key registered")

// ErrCannotExtend is wrapped by the permanent error Extend always returns.
var ErrCannotExtend = errors.New("an SSH certificate cannot be extended")

// principalPattern is what a principal may look like once rendered: user names and the like,
// nothing that sshd's principal lists or logs would read as syntax.
var principalPattern = ident.New(`^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,255}$`, `^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$`, 1, 256)

const maxKeyIDLen = 256

// New builds the adapter from the config: it reads and parses the CA key, which is the only
// thing it touches. The revocation list is first written by Check or by a revocation.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	a, err := New(*c, env)
	if err != nil {
		// Not a nil *SSHCert in a non-nil interface.
		return nil, err
	}
	return a, nil
}

// SSHCert is the adapter. It is safe for concurrent use.
type SSHCert struct {
	cfg        Config
	log        zerolog.Logger
	keys       adapters.PublicKeySource
	signer     ssh.Signer
	caBlob     string
	serialKey  []byte
	principals []*tmpl.Template
	keyID      *tmpl.Template
	list       *revocationList

	// Now returns the current time; time.Now unless a test replaces it before first use.
	Now func() time.Time
}

// New returns an SSHCert for cfg. Errors never quote the key or its passphrase.
func New(cfg Config, env adapters.Env) (*SSHCert, error) {
	if err := cfg.validateValues(); err != nil {
		return nil, err
	}
	signer, serialKey, err := loadCA(cfg.CAKey, cfg.CAKeyPassphrase)
	if err != nil {
		return nil, err
	}
	a := &SSHCert{
		cfg:       cfg,
		log:       env.Log,
		keys:      env.PublicKeys,
		signer:    signer,
		caBlob:    base64.StdEncoding.EncodeToString(signer.PublicKey().Marshal()),
		serialKey: serialKey,
		list:      newRevocationList(cfg.RevokedKeys),
		Now:       time.Now,
	}
	for _, p := range cfg.Principals {
		a.principals = append(a.principals, tmpl.Must(tmpl.Parse("principal", p, tmpl.Options{MissingKeyError: true})))
	}
	a.keyID = tmpl.Must(tmpl.Parse("key_id", cfg.KeyID, tmpl.Options{MissingKeyError: true}))
	return a, nil
}

// CAPublicKey returns the CA's public key, for TrustedUserCAKeys on the hosts.
func (a *SSHCert) CAPublicKey() ssh.PublicKey { return a.signer.PublicKey() }

// loadCA reads the CA key and derives the key of the serial HMAC from it.
func loadCA(value, passphrase Secret) (ssh.Signer, []byte, error) {
	pemBytes := []byte(value)
	if !looksLikePEM(string(value)) {
		path := string(value)
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, fmt.Errorf("read ca_key file %s: %w", filepath.Clean(path), err)
		}
		pemBytes = b
	}
	var raw any
	var err error
	if passphrase != "" {
		raw, err = ssh.ParseRawPrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
	} else {
		raw, err = ssh.ParseRawPrivateKey(pemBytes)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, nil, errors.New("ca_key is encrypted: set ca_key_passphrase")
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, nil, errors.New("ca_key_passphrase does not decrypt ca_key")
	case err != nil:
		// The parser's message names a format problem, never the key's bytes.
		return nil, nil, fmt.Errorf("ca_key is not a usable private key: %v", err)
	}
	// OpenSSH-format ed25519 keys come back as a pointer.
	if p, ok := raw.(*ed25519.PrivateKey); ok {
		raw = *p
	}
	switch raw.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, nil, fmt.Errorf("ca_key is a %T; use an ed25519, ECDSA or RSA key", raw)
	}
	if k, ok := raw.(*rsa.PrivateKey); ok && k.N.BitLen() < minRSABits {
		return nil, nil, fmt.Errorf("ca_key is RSA of %d bits; at least %d are needed", k.N.BitLen(), minRSABits)
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("ca_key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("ca_key: %v", err)
	}
	// The serial key depends on the key itself, not on how the file encodes it, so re-saving
	// the key with another passphrase or comment keeps serials (and idempotency) unchanged.
	mac := hmac.New(sha256.New, []byte("accessbot sshcert serial key v1"))
	mac.Write(der)
	return signer, mac.Sum(nil), nil
}

// serial is the certificate serial of a grant: an HMAC of the grant ID keyed by the CA key, so
// that nobody without the CA key can predict it, and never 0, which sshd cannot revoke.
func (a *SSHCert) serial(grantID string) uint64 {
	mac := hmac.New(sha256.New, a.serialKey)
	mac.Write([]byte(grantID))
	s := binary.BigEndian.Uint64(mac.Sum(nil))
	if s == 0 {
		s = 1
	}
	return s
}

func (a *SSHCert) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Grant signs the subject's public key for the grant window and returns the certificate as the
// secret. Signing again for the same grant gives a certificate with the same serial, principals
// and validity.
func (a *SSHCert) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if err := ctx.Err(); err != nil {
		return adapters.Lease{}, adapters.RetryableError(fmt.Errorf("grant %s: %w", req.GrantID, err))
	}
	cert, err := a.sign(ctx, req)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	fingerprint := ssh.FingerprintSHA256(cert.Key)
	validBefore := time.Unix(int64(cert.ValidBefore), 0).UTC()
	a.log.Info().Str("grant_id", req.GrantID).Uint64("serial", cert.Serial).Str("fingerprint", fingerprint).
		Strs("principals", cert.ValidPrincipals).Time("valid_before", validBefore).Msg("ssh certificate signed")

	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))) + " " + cert.KeyId
	return adapters.Lease{
		Data: map[string]string{
			LeaseSerial:      strconv.FormatUint(cert.Serial, 10),
			LeaseFingerprint: fingerprint,
			LeaseValidBefore: strconv.FormatInt(validBefore.Unix(), 10),
			LeaseKeyID:       cert.KeyId,
		},
		Secret: &adapters.Secret{
			Kind: SecretKind,
			Label: fmt.Sprintf("SSH certificate for %s on %s, valid until %s; save it next to your private key as <key>-cert.pub (e.g. ~/.ssh/id_ed25519-cert.pub)",
				strings.Join(cert.ValidPrincipals, ","), req.Resource, validBefore.Format(time.RFC3339)),
			Value: line,
		},
	}, nil
}

// sign makes and signs the certificate of a grant.
func (a *SSHCert) sign(ctx context.Context, req adapters.GrantRequest) (*ssh.Certificate, error) {
	if req.GrantID == "" {
		return nil, adapters.Permanentf("grant has no ID")
	}
	if !req.Expires.After(req.Start) {
		return nil, adapters.Permanentf("grant window is empty (start %s, expires %s)", req.Start.Format(time.RFC3339), req.Expires.Format(time.RFC3339))
	}
	if d := req.Expires.Sub(req.Start); d > a.cfg.MaxValidity {
		return nil, adapters.Permanentf("grant lasts %s, longer than this resource's max_validity %s", d, a.cfg.MaxValidity)
	}
	if !req.Expires.After(a.now()) {
		return nil, adapters.Permanentf("grant expired at %s, before its certificate was signed", req.Expires.UTC().Format(time.RFC3339))
	}
	data := templateData{
		Account: req.Subject.Account, SubjectID: req.Subject.ID, Email: req.Subject.Email,
		GrantID: req.GrantID, Resource: req.Resource,
	}
	principals, err := a.renderPrincipals(data)
	if err != nil {
		return nil, err
	}
	keyID, err := execute(a.keyID, data)
	if err != nil {
		return nil, adapters.Permanentf("key_id: %v", err)
	}
	if keyID == "" || len(keyID) > maxKeyIDLen || !printable(keyID) || strings.Contains(keyID, " ") {
		return nil, adapters.Permanentf("key_id renders to %q: want 1 to %d printable characters without spaces", keyID, maxKeyIDLen)
	}
	userKey, err := a.publicKey(ctx, req.Subject)
	if err != nil {
		return nil, err
	}
	perms := ssh.Permissions{Extensions: map[string]string{}}
	for _, e := range a.cfg.Extensions {
		perms.Extensions[e] = ""
	}
	if a.cfg.SourceAddress != "" {
		perms.CriticalOptions = map[string]string{"source-address": strings.ReplaceAll(a.cfg.SourceAddress, " ", "")}
	}
	// Certificates keep whole seconds: both ends round down, so the certificate never
	// outlives the grant, and may start a fraction of a second before it (plus clock_skew).
	cert := &ssh.Certificate{
		Key:             userKey,
		Serial:          a.serial(req.GrantID),
		CertType:        ssh.UserCert,
		KeyId:           keyID,
		ValidPrincipals: principals,
		ValidAfter:      uint64(max(req.Start.Add(-a.cfg.ClockSkew).Unix(), 0)),
		ValidBefore:     uint64(req.Expires.Unix()),
		Permissions:     perms,
	}
	if err := cert.SignCert(rand.Reader, a.signer); err != nil {
		return nil, adapters.Permanentf("sign certificate: %v", err)
	}
	return cert, nil
}

func (a *SSHCert) renderPrincipals(data templateData) ([]string, error) {
	var out []string
	for i, t := range a.principals {
		p, err := execute(t, data)
		if err != nil {
			return nil, adapters.Permanentf("principals[%d]: %v", i, err)
		}
		if !principalPattern.MatchString(p) {
			return nil, adapters.Permanentf("principals[%d] renders to %q, which is not a valid principal (letters, digits and _ . @ + -)", i, p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func execute(t *tmpl.Template, data templateData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// publicKey finds the key to sign: the first acceptable key registered in chat, else the
// config's key for the person's ID or email.
func (a *SSHCert) publicKey(ctx context.Context, s adapters.Subject) (ssh.PublicKey, error) {
	var candidates []string
	if a.keys != nil && s.ID != "" {
		registered, err := a.keys.PublicKeys(ctx, s.ID)
		if err != nil {
			if adapters.IsPermanent(err) {
				return nil, fmt.Errorf("look up the public keys of %s: %w", s.ID, err)
			}
			return nil, adapters.RetryableError(fmt.Errorf("look up the public keys of %s: %w", s.ID, err))
		}
		candidates = append(candidates, registered...)
	}
	for _, who := range []string{s.ID, s.Email} {
		if line, ok := a.cfg.Keys[who]; ok && who != "" {
			candidates = append(candidates, line)
		}
	}
	var refused []string
	for _, line := range candidates {
		key, err := parseUserKey(line)
		if err == nil {
			return key, nil
		}
		refused = append(refused, err.Error())
	}
	if len(refused) > 0 {
		return nil, adapters.PermanentError(fmt.Errorf("%w that can be signed for %s (%s): register an ed25519 key with /access ssh-key add",
			ErrNoKey, s.ID, strings.Join(refused, "; ")))
	}
	return nil, adapters.PermanentError(fmt.Errorf("%w for %s: register a key with /access ssh-key add", ErrNoKey, s.ID))
}

// Revoke ends a certificate before its time: its serial goes into the KRL. A certificate that
// has expired by itself needs nothing. Without lease data the serial comes from the grant ID
// and the expiry is unknown, so the serial stays listed for max_validity.
func (a *SSHCert) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return adapters.RetryableError(fmt.Errorf("revoke grant %s: %w", req.GrantID, err))
	}
	now := a.now()
	serial := a.serial(req.GrantID)
	if s, ok := req.Data[LeaseSerial]; ok {
		if parsed, err := strconv.ParseUint(s, 10, 64); err == nil && parsed != 0 {
			serial = parsed
		} else {
			a.log.Warn().Str("grant_id", req.GrantID).Msg("lease data has an unreadable serial; revoking the serial derived from the grant ID")
		}
	}
	expires := now.Add(a.cfg.MaxValidity)
	if v, ok := req.Data[LeaseValidBefore]; ok {
		if unix, err := strconv.ParseInt(v, 10, 64); err == nil {
			expires = time.Unix(unix, 0)
			if !now.Before(expires) {
				a.log.Debug().Str("grant_id", req.GrantID).Uint64("serial", serial).Msg("ssh certificate already expired; nothing to revoke")
				return nil
			}
		}
	}
	err := a.list.add(ctx, revokedCert{CA: a.caBlob, Serial: serial, Expires: expires, GrantID: req.GrantID}, now, now.Add(a.cfg.MaxValidity))
	if err != nil {
		return fmt.Errorf("revoke grant %s: add serial %d to %s: %w", req.GrantID, serial, a.cfg.RevokedKeys, err)
	}
	a.log.Info().Str("grant_id", req.GrantID).Uint64("serial", serial).Time("expires", expires.UTC()).Msg("ssh certificate revoked")
	return nil
}

// Extend always fails: a signed certificate's validity cannot change, and Extend has no way to
// hand the holder a new one. The grants package then records that the target's expiry did not
// move, and access ends at the certificate's valid_before; the holder asks for a new grant.
func (a *SSHCert) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	until := "its original expiry"
	if v, err := strconv.ParseInt(req.Data[LeaseValidBefore], 10, 64); err == nil {
		until = time.Unix(v, 0).UTC().Format(time.RFC3339)
	}
	return adapters.PermanentError(fmt.Errorf("extend grant %s: %w; it stays valid until %s, request a new grant for more time",
		req.GrantID, ErrCannotExtend, until))
}

// Check proves the CA key signs, and that the revocation list's directory is writable; it
// writes the KRL when there is none yet, since sshd refuses every key while RevokedKeys names
// a missing file.
func (a *SSHCert) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return adapters.RetryableError(fmt.Errorf("check: %w", err))
	}
	msg := make([]byte, 32)
	if _, err := rand.Read(msg); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	sig, err := a.signer.Sign(rand.Reader, msg)
	if err == nil {
		err = a.signer.PublicKey().Verify(msg, sig)
	}
	if err != nil {
		return adapters.Permanentf("check: the CA key does not sign: %v", err)
	}
	dir := filepath.Dir(a.cfg.RevokedKeys)
	f, err := os.CreateTemp(dir, ".accessbot-check-*")
	if err != nil {
		return fmt.Errorf("check: revocation list directory %s is not writable: %w", dir, fileError(err))
	}
	name := f.Name()
	_ = f.Close()
	os.Remove(name)
	now := a.now()
	if err := a.list.ensure(ctx, now, now.Add(a.cfg.MaxValidity)); err != nil {
		return fmt.Errorf("check: write revocation list: %w", err)
	}
	return nil
}

// Interface guards.
var (
	_ adapters.Adapter  = (*SSHCert)(nil)
	_ adapters.Extender = (*SSHCert)(nil)
	_ adapters.Checker  = (*SSHCert)(nil)
	_ adapters.Config   = (*Config)(nil)
)
