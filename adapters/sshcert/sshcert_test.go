package sshcert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/sshdtest"
)

func TestMain(m *testing.M) { sshdtest.Main(m) }

// testCA is a CA key in a file, as an operator keeps one.
type testCA struct {
	pem    []byte
	path   string
	signer ssh.Signer
}

func newCA(t testing.TB, key any) testCA {
	t.Helper()
	if key == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = priv
	}
	block, err := ssh.MarshalPrivateKey(key, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA{pem: pem.EncodeToMemory(block), path: filepath.Join(t.TempDir(), "ca")}
	if err := os.WriteFile(ca.path, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if ca.signer, err = ssh.NewSignerFromKey(key); err != nil {
		t.Fatal(err)
	}
	return ca
}

// keyring is a PublicKeySource like the bot's store: one key pair per person, made on first
// use, the private half in a file the ssh client can use.
type keyring struct {
	dir string
	mu  sync.Mutex
	by  map[string]*sshdtest.UserKey
}

func newKeyring(t testing.TB) *keyring {
	return &keyring{dir: t.TempDir(), by: map[string]*sshdtest.UserKey{}}
}

func (k *keyring) key(t testing.TB, subjectID string) *sshdtest.UserKey {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if uk, ok := k.by[subjectID]; ok {
		return uk
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(k.dir, "key-")
	if err != nil {
		t.Fatal(err)
	}
	uk, err := sshdtest.WriteUserKey(dir, priv)
	if err != nil {
		t.Fatal(err)
	}
	k.by[subjectID] = uk
	return uk
}

func (k *keyring) PublicKeys(_ context.Context, subjectID string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	uk, ok := k.by[subjectID]
	if !ok {
		return nil, nil
	}
	return []string{uk.AuthorizedKey()}, nil
}

// keySource is a PublicKeySource that answers from a func.
type keySource func(ctx context.Context, subjectID string) ([]string, error)

func (f keySource) PublicKeys(ctx context.Context, subjectID string) ([]string, error) {
	return f(ctx, subjectID)
}

// fixture is an adapter with its own CA and revocation list in a temp dir, and a fake clock.
type fixture struct {
	a    *SSHCert
	ca   testCA
	dir  string
	keys *keyring
	log  *lockedBuffer
	now  time.Time
}

// lockedBuffer is a log sink that concurrent calls can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	f := &fixture{ca: newCA(t, nil), dir: t.TempDir(), keys: newKeyring(t), log: &lockedBuffer{},
		now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	cfg := NewConfig()
	cfg.CAKey = Secret(f.ca.path)
	cfg.RevokedKeys = filepath.Join(f.dir, "revoked_keys")
	if edit != nil {
		edit(cfg)
	}
	a, err := New(*cfg, adapters.Env{Resource: "prod-ssh", Log: zerolog.New(f.log), PublicKeys: f.keys})
	if err != nil {
		t.Fatalf("new adapter: %v", err)
	}
	a.Now = func() time.Time { return f.now }
	f.a = a
	return f
}

func (f *fixture) request(t testing.TB, grantID, account string, lifetime time.Duration) adapters.GrantRequest {
	t.Helper()
	s := adapters.Subject{ID: account + "@example.com", Email: account + "@example.com", Account: account}
	f.keys.key(t, s.ID)
	return adapters.GrantRequest{GrantID: grantID, Resource: "prod-ssh", Subject: s, Reason: "test",
		Start: f.now, Expires: f.now.Add(lifetime)}
}

func parseCert(t testing.TB, line string) *ssh.Certificate {
	t.Helper()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		t.Fatalf("secret is a %s, not a certificate", key.Type())
	}
	return cert
}

func revokeOf(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Data: lease.Data}
}

// readState reads the revocation list's state file.
func readState(t testing.TB, krlPath string) listState {
	t.Helper()
	data, err := os.ReadFile(krlPath + ".state")
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	var st listState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	return st
}

// listedSerials decodes the KRL and returns its serials for ca.
func listedSerials(t testing.TB, krlPath string, ca ssh.PublicKey) []uint64 {
	t.Helper()
	data, err := os.ReadFile(krlPath)
	if err != nil {
		t.Fatalf("read revocation list: %v", err)
	}
	_, cas, err := decodeKRL(data)
	if err != nil {
		t.Fatalf("decode revocation list: %v", err)
	}
	var out []uint64
	for _, c := range cas {
		if bytes.Equal(c.caKey, ca.Marshal()) {
			out = append(out, c.serials...)
		}
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, userKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(userKey)
	goodKey := string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPub, _ := ssh.NewPublicKey(&small.PublicKey)
	weakKey := string(ssh.MarshalAuthorizedKey(smallPub))
	ca := newCA(t, nil)

	tests := []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"defaults with a key and a list are valid", func(*Config) {}, ""},
		{"a PEM key inline is valid", func(c *Config) { c.CAKey = Secret(ca.pem) }, ""},
		{"a key that does not load is refused", func(c *Config) {
			c.CAKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
		}, "not a usable private key"},
		{"a passphrase for a key without one is refused", func(c *Config) { c.CAKeyPassphrase = "nope" }, "not password protected"},
		{"a missing key file is refused", func(c *Config) { c.CAKey = "/nonexistent/ssh_ca" }, "read ca_key file"},
		{"every option set is valid", func(c *Config) {
			c.Principals = []string{"{{.Account}}", "ops-{{.Resource}}"}
			c.Extensions = []string{"permit-pty", "permit-port-forwarding", "login@example.com"}
			c.SourceAddress = "10.0.0.0/8, 192.0.2.7"
			c.Keys = map[string]string{"alice@example.com": goodKey}
			c.KeyID = "{{.GrantID}}/{{.SubjectID}}"
			c.ClockSkew = time.Minute
			c.MaxValidity = 24 * time.Hour
		}, ""},
		{"no extensions is valid", func(c *Config) { c.Extensions = nil }, ""},
		{"a missing CA key is refused", func(c *Config) { c.CAKey = "" }, "ca_key is required"},
		{"a relative CA key path is refused", func(c *Config) { c.CAKey = "keys/ca" }, "absolute path"},
		{"a missing revocation list is refused", func(c *Config) { c.RevokedKeys = "" }, "revoked_keys is required"},
		{"a relative revocation list is refused", func(c *Config) { c.RevokedKeys = "revoked" }, "absolute file path"},
		{"no principals are refused", func(c *Config) { c.Principals = nil }, "at least one"},
		{"a principal template with an unknown field is refused", func(c *Config) { c.Principals = []string{"{{.User}}"} }, "principals[0]"},
		{"a principal template that does not parse is refused", func(c *Config) { c.Principals = []string{"{{.Account"} }, "principals[0]"},
		{"an unknown extension is refused", func(c *Config) { c.Extensions = []string{"permit-everything"} }, "not an OpenSSH certificate extension"},
		{"a repeated extension is refused", func(c *Config) { c.Extensions = []string{"permit-pty", "permit-pty"} }, "listed twice"},
		{"a bad source address is refused", func(c *Config) { c.SourceAddress = "10.0.0.0/33" }, "source_address"},
		{"an empty source address entry is refused", func(c *Config) { c.SourceAddress = "10.0.0.1,,10.0.0.2" }, "empty entry"},
		{"a key that does not parse is refused by person", func(c *Config) { c.Keys = map[string]string{"bob": "ssh-ed25519 nope"} }, "keys: key of bob"},
		{"a weak RSA key is refused", func(c *Config) { c.Keys = map[string]string{"bob": weakKey} }, "at least 2048 bits"},
		{"an empty key ID is refused", func(c *Config) { c.KeyID = "" }, "key_id must not be empty"},
		{"a key ID template with an unknown field is refused", func(c *Config) { c.KeyID = "{{.Nope}}" }, "key_id"},
		{"a key ID without the grant ID is refused, so sshd's log always names the grant", func(c *Config) { c.KeyID = "{{.Account}}@{{.Resource}}" }, "key_id must contain {{.GrantID}}"},
		{"a negative clock skew is refused", func(c *Config) { c.ClockSkew = -time.Second }, "clock_skew"},
		{"a clock skew over a minute is refused", func(c *Config) { c.ClockSkew = 2 * time.Minute }, "clock_skew"},
		{"a max validity under a minute is refused", func(c *Config) { c.MaxValidity = time.Second }, "max_validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			c.CAKey = Secret(ca.path)
			c.RevokedKeys = "/var/lib/accessbot/revoked_keys"
			tt.edit(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate: got nil, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestConfigDecodesStrictlyFromYAML(t *testing.T) {
	src := `
ca_key: /etc/accessbot/ssh_ca
ca_key_passphrase: hunter2
principals: ["{{.Account}}", ops]
extensions: [permit-pty, permit-port-forwarding]
source_address: 10.0.0.0/8
keys:
  alice@example.com: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcQb1u5m0n1H0nZbYl6Xz3pC4Jw1k1xWmQ0oXH6y6cT alice
revoked_keys: /var/lib/accessbot/revoked_keys
key_id: "grant:{{.GrantID}}"
clock_skew: 30s
max_validity: 12h
`
	c := NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if c.CAKeyPassphrase != "hunter2" || c.ClockSkew != 30*time.Second || c.MaxValidity != 12*time.Hour ||
		len(c.Principals) != 2 || len(c.Extensions) != 2 || c.Keys["alice@example.com"] == "" {
		t.Fatalf("decoded config is missing values: %s", c)
	}

	dec = yaml.NewDecoder(strings.NewReader("ca_key: /x\nprincipal: [a]\n"))
	dec.KnownFields(true)
	if err := dec.Decode(NewConfig()); err == nil {
		t.Fatal("decode accepted the unknown key principal")
	}
}

func TestConfigNeverPrintsTheKeyOrPassphrase(t *testing.T) {
	c := NewConfig()
	c.CAKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWNhLWtleS1ieXRlcw==\n-----END OPENSSH PRIVATE KEY-----\n"
	c.CAKeyPassphrase = "correct-horse-battery"
	c.RevokedKeys = "/var/lib/accessbot/revoked_keys"
	j, _ := json.Marshal(c)
	y, _ := yaml.Marshal(c)
	for _, out := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(),
		fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c),
		fmt.Sprintf("%v %s %q", c.CAKey, c.CAKey, c.CAKeyPassphrase),
		string(j), string(y),
	} {
		if strings.Contains(out, "c2VjcmV0") || strings.Contains(out, "correct-horse") {
			t.Fatalf("config printed a secret: %s", out)
		}
	}
}

func TestGrantSignsExactlyTheGrantWindow(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Extensions = []string{"permit-pty", "permit-port-forwarding"}
		c.SourceAddress = "10.0.0.0/8, 192.0.2.7"
	})
	req := f.request(t, "g-window", "alice", 90*time.Minute)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if lease.Secret == nil || lease.Secret.Kind != SecretKind {
		t.Fatalf("secret = %v, want kind %s", lease.Secret, SecretKind)
	}
	cert := parseCert(t, lease.Secret.Value)

	if got, want := cert.ValidAfter, uint64(req.Start.Unix()); got != want {
		t.Errorf("valid after %d, want the grant's start %d", got, want)
	}
	if got, want := cert.ValidBefore, uint64(req.Expires.Unix()); got != want {
		t.Errorf("valid before %d, want the grant's expiry %d", got, want)
	}
	if cert.CertType != ssh.UserCert {
		t.Errorf("certificate type %d, want a user certificate", cert.CertType)
	}
	if got := strings.Join(cert.ValidPrincipals, ","); got != "alice" {
		t.Errorf("principals %q, want alice", got)
	}
	if got, want := cert.KeyId, "accessbot:g-window:alice"; got != want {
		t.Errorf("key ID %q, want %q", got, want)
	}
	wantExt := map[string]string{"permit-pty": "", "permit-port-forwarding": ""}
	if fmt.Sprint(cert.Extensions) != fmt.Sprint(wantExt) {
		t.Errorf("extensions %v, want %v", cert.Extensions, wantExt)
	}
	if got := cert.CriticalOptions["source-address"]; got != "10.0.0.0/8,192.0.2.7" {
		t.Errorf("source-address %q, want 10.0.0.0/8,192.0.2.7", got)
	}
	if !bytes.Equal(cert.Key.Marshal(), f.keys.key(t, req.Subject.ID).PublicKey().Marshal()) {
		t.Error("certificate is not for the person's registered key")
	}
	if got := lease.Data[LeaseSerial]; got != strconv.FormatUint(cert.Serial, 10) || cert.Serial == 0 {
		t.Errorf("lease serial %q, certificate serial %d", got, cert.Serial)
	}
	if got := lease.Data[LeaseFingerprint]; got != ssh.FingerprintSHA256(cert.Key) {
		t.Errorf("lease fingerprint %q, want %q", got, ssh.FingerprintSHA256(cert.Key))
	}
	if got := lease.Data[LeaseValidBefore]; got != strconv.FormatInt(req.Expires.Unix(), 10) {
		t.Errorf("lease valid_before %q, want %d", got, req.Expires.Unix())
	}

	checker := ssh.CertChecker{
		IsUserAuthority:          func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), f.ca.signer.PublicKey().Marshal()) },
		SupportedCriticalOptions: []string{"source-address"},
	}
	for _, tt := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"a second before the start", req.Start.Add(-time.Second), false},
		{"at the start", req.Start, true},
		{"a second before the expiry", req.Expires.Add(-time.Second), true},
		{"at the expiry", req.Expires, false},
	} {
		checker.Clock = func() time.Time { return tt.at }
		if err := checker.CheckCert("alice", cert); (err == nil) != tt.ok {
			t.Errorf("%s: check = %v, want valid %v", tt.name, err, tt.ok)
		}
	}
}

func TestClockSkewBackdatesOnlyTheStart(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClockSkew = 30 * time.Second })
	req := f.request(t, "g-skew", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, lease.Secret.Value)
	if got, want := cert.ValidAfter, uint64(req.Start.Add(-30*time.Second).Unix()); got != want {
		t.Errorf("valid after %d, want %d (start minus clock_skew)", got, want)
	}
	if got, want := cert.ValidBefore, uint64(req.Expires.Unix()); got != want {
		t.Errorf("valid before %d, want the expiry %d, not moved by clock_skew", got, want)
	}
}

func TestGrantIsIdempotentPerGrantID(t *testing.T) {
	f := newFixture(t, nil)
	req := f.request(t, "g-idem", "alice", time.Hour)
	first, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := parseCert(t, first.Secret.Value), parseCert(t, second.Secret.Value)
	if c1.Serial != c2.Serial || c1.ValidBefore != c2.ValidBefore || c1.KeyId != c2.KeyId {
		t.Fatalf("second grant differs: serial %d/%d, valid before %d/%d", c1.Serial, c2.Serial, c1.ValidBefore, c2.ValidBefore)
	}
	if fmt.Sprint(first.Data) != fmt.Sprint(second.Data) {
		t.Fatalf("lease data differs: %v / %v", first.Data, second.Data)
	}

	other := f.request(t, "g-idem-other", "alice", time.Hour)
	third, err := f.a.Grant(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if parseCert(t, third.Secret.Value).Serial == c1.Serial {
		t.Fatal("two grants got the same serial")
	}
}

func TestSerialsDependOnTheKeyNotItsEncoding(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ssh.MarshalPrivateKey(priv, "plain")
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "encrypted", []byte("pass phrase"))
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.MarshalPrivateKey(otherPriv, "other")

	build := func(block *pem.Block, pass Secret) *SSHCert {
		c := NewConfig()
		c.CAKey = Secret(pem.EncodeToMemory(block))
		c.CAKeyPassphrase = pass
		c.RevokedKeys = filepath.Join(t.TempDir(), "revoked_keys")
		a, err := New(*c, adapters.Env{Log: zerolog.Nop()})
		if err != nil {
			t.Fatalf("new adapter: %v", err)
		}
		return a
	}
	a, b, o := build(plain, ""), build(encrypted, "pass phrase"), build(other, "")
	if a.serial("g-1") != b.serial("g-1") {
		t.Fatal("the same key saved with a passphrase gives other serials")
	}
	if a.serial("g-1") == o.serial("g-1") {
		t.Fatal("two CA keys give the same serial")
	}
	if a.serial("g-1") == a.serial("g-2") {
		t.Fatal("two grants give the same serial")
	}
}

func TestCAKeyTypesAndEncodings(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(edKey, "", []byte("s3cret-pass"))
	if err != nil {
		t.Fatal(err)
	}
	mustPEM := func(key any) string {
		b, err := ssh.MarshalPrivateKey(key, "")
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(b))
	}
	tests := []struct {
		name string
		key  string
		pass Secret
		want string // "" means it loads
	}{
		{"ed25519 loads", mustPEM(edKey), "", ""},
		{"a key without its final newline loads, as ${file:} gives it", strings.TrimSuffix(mustPEM(edKey), "\n"), "", ""},
		{"ECDSA P-256 loads", mustPEM(ecKey), "", ""},
		{"RSA 2048 loads", mustPEM(rsaKey), "", ""},
		{"an encrypted key loads with its passphrase", string(pem.EncodeToMemory(encrypted)), "s3cret-pass", ""},
		{"an encrypted key without passphrase is refused", string(pem.EncodeToMemory(encrypted)), "", "set ca_key_passphrase"},
		{"an encrypted key with a wrong passphrase is refused", string(pem.EncodeToMemory(encrypted)), "wrong", "does not decrypt"},
		{"RSA 1024 is refused", mustPEM(smallRSA), "", "at least 2048"},
		{"garbage in PEM armour is refused", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "", "not a usable private key"},
		{"a missing key file is refused", "/nonexistent/ssh_ca", "", "read ca_key file /nonexistent/ssh_ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			c.CAKey = Secret(tt.key)
			c.CAKeyPassphrase = tt.pass
			c.RevokedKeys = filepath.Join(t.TempDir(), "revoked_keys")
			a, err := New(*c, adapters.Env{Log: zerolog.Nop()})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("new adapter: %v", err)
				}
				msg := []byte("probe")
				sig, err := a.signer.Sign(rand.Reader, msg)
				if err != nil || a.CAPublicKey().Verify(msg, sig) != nil {
					t.Fatalf("loaded key does not sign: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("new adapter: got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || (strings.HasPrefix(tt.key, "-----") && strings.Contains(err.Error(), tt.key[40:60])) {
				t.Fatalf("error quotes the key or passphrase: %v", err)
			}
		})
	}
}

func TestGrantFindsThePersonsKey(t *testing.T) {
	reg := newKeyring(t)
	chatKey := reg.key(t, "alice@example.com")
	configKey := newKeyring(t).key(t, "x")
	emailKey := newKeyring(t).key(t, "y")
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := ssh.NewPublicKey(&small.PublicKey)
	weak := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(smallPub)))

	tests := []struct {
		name      string
		source    adapters.PublicKeySource
		keys      map[string]string
		subject   adapters.Subject
		want      ssh.PublicKey
		wantErr   string
		permanent bool
	}{
		{
			name: "a key registered in chat comes first", source: reg,
			keys:    map[string]string{"alice@example.com": configKey.AuthorizedKey()},
			subject: adapters.Subject{ID: "alice@example.com", Account: "alice"}, want: chatKey.PublicKey(),
		},
		{
			name: "the config's key by ID is used without a registered key", source: keySource(func(context.Context, string) ([]string, error) { return nil, nil }),
			keys:    map[string]string{"U123": configKey.AuthorizedKey()},
			subject: adapters.Subject{ID: "U123", Email: "bob@example.com", Account: "bob"}, want: configKey.PublicKey(),
		},
		{
			name:    "the config's key by email is used without a key by ID",
			keys:    map[string]string{"bob@example.com": emailKey.AuthorizedKey()},
			subject: adapters.Subject{ID: "U123", Email: "bob@example.com", Account: "bob"}, want: emailKey.PublicKey(),
		},
		{
			name: "a weak registered key is skipped for a good one", source: keySource(func(context.Context, string) ([]string, error) {
				return []string{weak, chatKey.AuthorizedKey()}, nil
			}),
			subject: adapters.Subject{ID: "alice@example.com", Account: "alice"}, want: chatKey.PublicKey(),
		},
		{
			name: "no key at all fails permanently and says how to register one", source: reg,
			subject: adapters.Subject{ID: "carol@example.com", Account: "carol"},
			wantErr: "register a key with /access ssh-key add", permanent: true,
		},
		{
			name: "only unusable keys fail permanently and say why", source: keySource(func(context.Context, string) ([]string, error) {
				return []string{weak}, nil
			}),
			subject: adapters.Subject{ID: "dave@example.com", Account: "dave"},
			wantErr: "at least 2048 bits", permanent: true,
		},
		{
			name: "a failing key store is retryable", source: keySource(func(context.Context, string) ([]string, error) {
				return nil, errors.New("database is locked")
			}),
			subject: adapters.Subject{ID: "erin@example.com", Account: "erin"},
			wantErr: "database is locked", permanent: false,
		},
		{
			name: "a key store's permanent error stays permanent", source: keySource(func(context.Context, string) ([]string, error) {
				return nil, adapters.Permanentf("person unknown")
			}),
			subject: adapters.Subject{ID: "frank@example.com", Account: "frank"},
			wantErr: "person unknown", permanent: true,
		},
	}
	ca := newCA(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			c.CAKey = Secret(ca.path)
			c.RevokedKeys = filepath.Join(t.TempDir(), "revoked_keys")
			c.Keys = tt.keys
			a, err := New(*c, adapters.Env{Log: zerolog.Nop(), PublicKeys: tt.source})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			lease, err := a.Grant(context.Background(), adapters.GrantRequest{
				GrantID: "g-key", Resource: "prod-ssh", Subject: tt.subject, Start: now, Expires: now.Add(time.Hour),
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("grant: got %v, want an error containing %q", err, tt.wantErr)
				}
				if adapters.IsPermanent(err) != tt.permanent {
					t.Fatalf("grant: error %q is permanent=%v, want %v", err, adapters.IsPermanent(err), tt.permanent)
				}
				return
			}
			if err != nil {
				t.Fatalf("grant: %v", err)
			}
			if got := parseCert(t, lease.Secret.Value).Key; !bytes.Equal(got.Marshal(), tt.want.Marshal()) {
				t.Fatalf("signed key %s, want %s", ssh.FingerprintSHA256(got), ssh.FingerprintSHA256(tt.want))
			}
		})
	}
}

func TestGrantRefusesWhatItCannotSignSafely(t *testing.T) {
	f := newFixture(t, nil)
	base := f.request(t, "g-bad", "alice", time.Hour)
	tests := []struct {
		name string
		edit func(*adapters.GrantRequest)
		want string
	}{
		{"an empty window", func(r *adapters.GrantRequest) { r.Expires = r.Start }, "window is empty"},
		{"a window longer than max_validity", func(r *adapters.GrantRequest) { r.Expires = r.Start.Add(8 * 24 * time.Hour) }, "max_validity"},
		{"a grant already over", func(r *adapters.GrantRequest) {
			r.Start, r.Expires = f.now.Add(-2*time.Hour), f.now.Add(-time.Hour)
		}, "expired"},
		{"an account that is not a principal", func(r *adapters.GrantRequest) { r.Subject.Account = "alice,root" }, "not a valid principal"},
		{"an account with a space", func(r *adapters.GrantRequest) { r.Subject.Account = "alice root" }, "not a valid principal"},
		{"an empty account", func(r *adapters.GrantRequest) { r.Subject.Account = "" }, "not a valid principal"},
		{"no grant ID", func(r *adapters.GrantRequest) { r.GrantID = "" }, "no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			tt.edit(&req)
			_, err := f.a.Grant(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("grant: got %v, want an error containing %q", err, tt.want)
			}
			if !adapters.IsPermanent(err) {
				t.Fatalf("grant: error %q is retryable, want permanent", err)
			}
		})
	}
}

func TestRevokeListsTheSerialUntilTheCertificateExpires(t *testing.T) {
	f := newFixture(t, nil)
	req := f.request(t, "g-revoke", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	serial := parseCert(t, lease.Secret.Value).Serial
	if err := f.a.Revoke(context.Background(), revokeOf(req, lease)); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey()); fmt.Sprint(got) != fmt.Sprint([]uint64{serial}) {
		t.Fatalf("KRL lists %v, want [%d]", got, serial)
	}
	st := readState(t, f.a.cfg.RevokedKeys)
	if len(st.Revoked) != 1 || !st.Revoked[0].Expires.Equal(req.Expires) || st.Revoked[0].GrantID != req.GrantID {
		t.Fatalf("state = %+v, want the serial with the certificate's expiry %s", st.Revoked, req.Expires)
	}

	// Revoking again changes nothing but the list's version.
	before := st.KRLVersion
	if err := f.a.Revoke(context.Background(), revokeOf(req, lease)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != 1 || got[0] != serial {
		t.Fatalf("after a second revoke the KRL lists %v, want [%d]", got, serial)
	}
	if st := readState(t, f.a.cfg.RevokedKeys); st.KRLVersion <= before {
		t.Fatalf("KRL version %d did not grow past %d", st.KRLVersion, before)
	}
}

func TestRevokeWithoutLeaseDataRevokesTheGrantsSerial(t *testing.T) {
	f := newFixture(t, nil)
	req := f.request(t, "g-nolease", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != 1 || got[0] != parseCert(t, lease.Secret.Value).Serial {
		t.Fatalf("KRL lists %v, want the grant's serial", got)
	}
	// The expiry is unknown, so the serial stays for max_validity.
	if st := readState(t, f.a.cfg.RevokedKeys); !st.Revoked[0].Expires.Equal(f.now.Add(f.a.cfg.MaxValidity)) {
		t.Fatalf("serial kept until %s, want now + max_validity", st.Revoked[0].Expires)
	}
}

func TestRevokeOfAnExpiredCertificateWritesNothing(t *testing.T) {
	f := newFixture(t, nil)
	req := f.request(t, "g-expired", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	f.now = req.Expires
	if err := f.a.Revoke(context.Background(), revokeOf(req, lease)); err != nil {
		t.Fatalf("revoke at expiry: %v", err)
	}
	if _, err := os.Stat(f.a.cfg.RevokedKeys); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("revoking an expired certificate wrote the revocation list (stat: %v)", err)
	}
}

func TestRevokeDropsCertificatesThatExpired(t *testing.T) {
	f := newFixture(t, nil)
	short := f.request(t, "g-short", "alice", time.Hour)
	shortLease, err := f.a.Grant(context.Background(), short)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), revokeOf(short, shortLease)); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Hour)
	long := f.request(t, "g-long", "bob", time.Hour)
	longLease, err := f.a.Grant(context.Background(), long)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), revokeOf(long, longLease)); err != nil {
		t.Fatal(err)
	}
	got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey())
	want := parseCert(t, longLease.Secret.Value).Serial
	if len(got) != 1 || got[0] != want {
		t.Fatalf("KRL lists %v, want only the unexpired serial %d", got, want)
	}
	if st := readState(t, f.a.cfg.RevokedKeys); len(st.Revoked) != 1 || st.Revoked[0].GrantID != "g-long" {
		t.Fatalf("state = %+v, want only g-long", st.Revoked)
	}
}

func TestRevokeReadsBackItsOwnListWhenTheStateIsLost(t *testing.T) {
	f := newFixture(t, nil)
	first := f.request(t, "g-first", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), revokeOf(first, lease)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.a.cfg.RevokedKeys + ".state"); err != nil {
		t.Fatal(err)
	}
	second := f.request(t, "g-second", "bob", time.Hour)
	lease2, err := f.a.Grant(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), revokeOf(second, lease2)); err != nil {
		t.Fatalf("revoke after losing the state: %v", err)
	}
	got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey())
	if len(got) != 2 {
		t.Fatalf("KRL lists %v, want both serials (the first read back from the old KRL)", got)
	}
}

func TestRevokeRefusesToOverwriteAListItDidNotWrite(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content []byte
	}{
		{"a revoked-keys file of public keys", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcQb1u5m0n1H0nZbYl6Xz3pC4Jw1k1xWmQ0oXH6y6cT\n")},
		{"a KRL made by someone else", append([]byte(krlMagic), 0, 0, 0, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if err := os.WriteFile(f.a.cfg.RevokedKeys, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-x"})
			if err == nil || !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "did not write") {
				t.Fatalf("revoke: got %v, want a permanent error saying accessbot did not write the list", err)
			}
			if got, _ := os.ReadFile(f.a.cfg.RevokedKeys); !bytes.Equal(got, tt.content) {
				t.Fatal("revoke changed a revocation list it did not write")
			}
		})
	}
}

func TestRevokeAcceptsAnEmptyFileAsAnEmptyList(t *testing.T) {
	f := newFixture(t, nil)
	// What operators make with `touch` before pointing RevokedKeys at it.
	if err := os.WriteFile(f.a.cfg.RevokedKeys, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-empty"}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != 1 {
		t.Fatalf("KRL lists %v, want one serial", got)
	}
}

func TestConcurrentRevocationsFromTwoAdaptersAllLand(t *testing.T) {
	// Two adapters on one list stand for two resources, or two accessbot processes: the lock
	// file serialises them, and no revocation overwrites another.
	f := newFixture(t, nil)
	cfg := f.a.cfg
	b, err := New(cfg, adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	b.Now = f.a.Now
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := f.a
			if i%2 == 1 {
				a = b
			}
			errs <- a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: fmt.Sprintf("g-par-%d", i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
	if got := listedSerials(t, cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != n {
		t.Fatalf("KRL lists %d serials, want %d", len(got), n)
	}
	if st := readState(t, cfg.RevokedKeys); st.KRLVersion != n {
		t.Fatalf("KRL version %d after %d revocations", st.KRLVersion, n)
	}
}

func TestRevocationsOfTwoCAsShareOneList(t *testing.T) {
	f := newFixture(t, nil)
	other := newCA(t, nil)
	cfg := f.a.cfg
	cfg.CAKey = Secret(other.path)
	b, err := New(cfg, adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	b.Now = f.a.Now
	if err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-ca1"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-ca2"}); err != nil {
		t.Fatal(err)
	}
	if got := listedSerials(t, cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != 1 || got[0] != f.a.serial("g-ca1") {
		t.Fatalf("first CA's serials %v, want [%d]", got, f.a.serial("g-ca1"))
	}
	if got := listedSerials(t, cfg.RevokedKeys, other.signer.PublicKey()); len(got) != 1 || got[0] != b.serial("g-ca2") {
		t.Fatalf("second CA's serials %v, want [%d]", got, b.serial("g-ca2"))
	}
}

func TestRevokeFailsPermanentlyWhenTheListCannotBeWritten(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RevokedKeys = "/nonexistent-accessbot-dir/revoked_keys" })
	err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-nodir"})
	if err == nil || !adapters.IsPermanent(err) {
		t.Fatalf("revoke into a missing directory: got %v, want a permanent error", err)
	}
}

func TestExtendIsRefusedPermanently(t *testing.T) {
	f := newFixture(t, nil)
	req := f.request(t, "g-extend", "alice", time.Hour)
	lease, err := f.a.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	err = f.a.Extend(context.Background(), revokeOf(req, lease), req.Expires.Add(time.Hour))
	if !errors.Is(err, ErrCannotExtend) || !adapters.IsPermanent(err) {
		t.Fatalf("extend: got %v, want a permanent ErrCannotExtend", err)
	}
	if !strings.Contains(err.Error(), req.Expires.UTC().Format(time.RFC3339)) || !strings.Contains(err.Error(), "request a new grant") {
		t.Fatalf("extend error %q does not say until when the certificate holds and what to do", err)
	}
}

func TestCheckWritesAnEmptyListWhenThereIsNone(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.a.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	data, err := os.ReadFile(f.a.cfg.RevokedKeys)
	if err != nil {
		t.Fatalf("check did not write the revocation list: %v", err)
	}
	if _, cas, err := decodeKRL(data); err != nil || len(cas) != 0 {
		t.Fatalf("revocation list after check: %d CAs, %v; want an empty KRL", len(cas), err)
	}
	// A second check leaves an existing list alone.
	if err := f.a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: "g-check"}); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Check(context.Background()); err != nil {
		t.Fatalf("second check: %v", err)
	}
	if got := listedSerials(t, f.a.cfg.RevokedKeys, f.ca.signer.PublicKey()); len(got) != 1 {
		t.Fatalf("check changed the list: %v", got)
	}
}

func TestCheckFailsForAMissingDirectory(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RevokedKeys = "/nonexistent-accessbot-dir/revoked_keys" })
	err := f.a.Check(context.Background())
	if err == nil || !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("check: got %v, want a permanent error saying the directory is not writable", err)
	}
}

func TestCancelledContextIsRetryable(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := f.request(t, "g-cancel", "alice", time.Hour)
	if _, err := f.a.Grant(ctx, req); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("grant with a cancelled context: got %v, want a retryable error", err)
	}
	if err := f.a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-cancel"}); err == nil || adapters.IsPermanent(err) {
		t.Fatalf("revoke with a cancelled context: got %v, want a retryable error", err)
	}
}

func TestRevokeWaitsForTheLockOnlyAsLongAsItsContext(t *testing.T) {
	f := newFixture(t, nil)
	unlock, err := lockFile(context.Background(), f.a.cfg.RevokedKeys+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = f.a.Revoke(ctx, adapters.RevokeRequest{GrantID: "g-locked"})
	if err == nil || adapters.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("revoke while another process holds the lock: got %v, want a retryable deadline error", err)
	}
}

// TestTheCAKeyNeverAppearsInErrorsOrLogs runs every path that touches the key, failing ones
// included, and looks for any piece of it in what comes out.
func TestTheCAKeyNeverAppearsInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "ca", []byte("pass-phrase-XYZZY"))
	caPEM := string(pem.EncodeToMemory(block))
	var out bytes.Buffer
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	keys := newKeyring(t)
	dir := t.TempDir()
	build := func(key, pass Secret, revoked string) *SSHCert {
		c := NewConfig()
		c.CAKey, c.CAKeyPassphrase, c.RevokedKeys = key, pass, revoked
		if pass == "" {
			// Validate loads the key as New does; with a passphrase that is a slow KDF, and
			// New covers the same code.
			note(c.Validate())
		}
		a, err := New(*c, adapters.Env{Resource: "prod-ssh", Log: zerolog.New(&out).Level(zerolog.DebugLevel), PublicKeys: keys})
		note(err)
		return a
	}
	build(Secret(caPEM), "", filepath.Join(dir, "r"))
	build(Secret(caPEM), "wrong-pass", filepath.Join(dir, "r"))
	build(Secret(strings.ReplaceAll(caPEM, "\n", "")), "", filepath.Join(dir, "r"))
	build(Secret(caPEM[40:200]), "", filepath.Join(dir, "r"))
	build(Secret(caPEM[:len(caPEM)-80]+"\n-----END OPENSSH PRIVATE KEY-----\n"), "pass-phrase-XYZZY", filepath.Join(dir, "r"))
	a := build(Secret(caPEM), "pass-phrase-XYZZY", filepath.Join(dir, "r"))
	if a == nil {
		t.Fatalf("the good config did not build: %v", errs)
	}
	// The same adapter with a list it cannot write, for the failing revoke and check.
	bad := &SSHCert{cfg: a.cfg, log: a.log, keys: a.keys, signer: a.signer, caBlob: a.caBlob,
		serialKey: a.serialKey, principals: a.principals, keyID: a.keyID, Now: a.Now}
	bad.cfg.RevokedKeys = "/nonexistent-accessbot-dir/r"
	bad.list = newRevocationList(bad.cfg.RevokedKeys)
	ctx := context.Background()
	now := time.Now()
	subject := adapters.Subject{ID: "alice@example.com", Account: "alice"}
	keys.key(t, subject.ID)
	req := adapters.GrantRequest{GrantID: "g-leak", Resource: "prod-ssh", Subject: subject, Start: now, Expires: now.Add(time.Hour)}
	lease, err := a.Grant(ctx, req)
	note(err)
	note(a.Revoke(ctx, revokeOf(req, lease)))
	note(a.Check(ctx))
	note(a.Extend(ctx, revokeOf(req, lease), now.Add(2*time.Hour)))
	_, err = a.Grant(ctx, adapters.GrantRequest{GrantID: "g-nokey", Subject: adapters.Subject{ID: "nobody", Account: "nobody"}, Start: now, Expires: now.Add(time.Hour)})
	note(err)
	note(bad.Revoke(ctx, revokeOf(req, lease)))
	note(bad.Check(ctx))
	if len(errs) < 8 {
		t.Fatalf("only %d error texts collected; the test no longer exercises the failures", len(errs))
	}

	everything := out.String() + strings.Join(errs, "\n")
	body := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(caPEM, "-----BEGIN OPENSSH PRIVATE KEY-----"), "-----END OPENSSH PRIVATE KEY-----\n"))
	var pieces []string
	for _, line := range strings.Split(body, "\n") {
		if len(line) >= 16 {
			pieces = append(pieces, line[:16], line[len(line)-16:])
		}
	}
	seed := base64.StdEncoding.EncodeToString(priv.Seed())
	pieces = append(pieces, "pass-phrase-XYZZY", "XYZZY", seed[:16], fmt.Sprintf("%x", priv.Seed())[:16])
	if lease.Secret != nil {
		// The certificate is delivered by DM, never logged.
		pieces = append(pieces, strings.Fields(lease.Secret.Value)[1][20:60])
	}
	for _, p := range pieces {
		if strings.Contains(everything, p) {
			t.Fatalf("a piece of the CA key, passphrase or certificate (%q) appears in errors or logs:\n%s", p, everything)
		}
	}
	if !strings.Contains(out.String(), "ssh certificate signed") || !strings.Contains(out.String(), "ssh certificate revoked") {
		t.Fatalf("the log lacks the grant and revoke lines the test relies on:\n%s", out.String())
	}
}

func TestRegisteredAsSSHCert(t *testing.T) {
	typ, ok := adapters.Lookup("sshcert")
	if !ok {
		t.Fatal("sshcert is not registered")
	}
	c, ok := typ.NewConfig().(*Config)
	if !ok {
		t.Fatalf("NewConfig returns %T", typ.NewConfig())
	}
	if c.KeyID != defaultKeyID || len(c.Extensions) != 1 || c.Extensions[0] != "permit-pty" || c.ClockSkew != 0 {
		t.Fatalf("defaults: %s", c)
	}
	c.CAKey, c.RevokedKeys = "/nonexistent/ssh_ca", "/tmp/revoked_keys"
	a, err := c.New(adapters.Env{Log: zerolog.Nop()})
	if err == nil || a != nil {
		t.Fatalf("New with a missing key file: got (%v, %v), want a nil adapter and an error", a, err)
	}
}

// BenchmarkGrantRevoke signs a certificate and revokes it early, rewriting the KRL, per op. The
// clock moves a minute per op, so that with one-hour grants the list holds a steady ~60
// unexpired serials, as a busy day might.
func BenchmarkGrantRevoke(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	req := f.request(b, "g-bench", "alice", time.Hour)
	n := 0
	for i := 0; b.Loop(); i++ {
		req.GrantID = "g-bench-" + strconv.Itoa(i)
		req.Start, req.Expires = f.now, f.now.Add(time.Hour)
		lease, err := f.a.Grant(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.a.Revoke(ctx, revokeOf(req, lease)); err != nil {
			b.Fatal(err)
		}
		f.now = f.now.Add(time.Minute)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGrant is the adapter's part of the time from "approved" to "adapter returned":
// finding the key and signing.
func BenchmarkGrant(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	req := f.request(b, "g-bench", "alice", time.Hour)
	n := 0
	for i := 0; b.Loop(); i++ {
		req.GrantID = "g-bench-" + strconv.Itoa(i)
		if _, err := f.a.Grant(ctx, req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}
