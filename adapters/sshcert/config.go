package sshcert

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/tmpl"
)

const (
	defaultKeyID       = "accessbot:{{.GrantID}}:{{.Account}}"
	defaultMaxValidity = 7 * 24 * time.Hour
	// maxClockSkew bounds how far valid_after may be backdated: enough for hosts whose clock
	// runs a little behind the bot's, too little to matter as access.
	maxClockSkew   = time.Minute
	maxMaxValidity = 366 * 24 * time.Hour
	minRSABits     = 2048
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "sshcert",
		Doc:       "signs SSH user certificates valid for the grant window; early revocations go to a KRL sshd reads",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// Secret is a configuration value that must not be shown: the CA's private key or its
// passphrase. It prints as "[redacted]" with every fmt verb, in JSON and in YAML.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the value.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalYAML redacts the value.
func (Secret) MarshalYAML() (any, error) { return "[redacted]", nil }

// Config is the sshcert adapter's configuration block.
//
//	adapter:
//	  type: sshcert
//	  ca_key: ${file:/etc/accessbot/ssh_ca}      # or an absolute path to the key file
//	  principals: ["{{.Account}}"]
//	  extensions: [permit-pty]
//	  revoked_keys: /var/lib/accessbot/revoked_keys
type Config struct {
	// CAKey is the CA's private key (OpenSSH, PKCS#1, PKCS#8 or SEC 1 PEM; ed25519, ECDSA or
	// RSA), or the absolute path of a file holding it.
	CAKey Secret `yaml:"ca_key"`
	// CAKeyPassphrase decrypts CAKey when it is encrypted.
	CAKeyPassphrase Secret `yaml:"ca_key_passphrase"`
	// Principals are templates of the certificate's principals; the data has .Account,
	// .SubjectID, .Email, .GrantID and .Resource. Without an AuthorizedPrincipalsFile, sshd
	// lets a certificate log in as a user named among its principals.
	Principals []string `yaml:"principals"`
	// Extensions are the certificate's extensions (permit-pty, permit-port-forwarding,
	// permit-agent-forwarding, permit-X11-forwarding, permit-user-rc, no-touch-required, or a
	// vendor extension name@domain).
	Extensions []string `yaml:"extensions"`
	// SourceAddress, when set, is the source-address critical option: a comma-separated list
	// of addresses and CIDR blocks the certificate may be used from.
	SourceAddress string `yaml:"source_address"`
	// Keys maps a person (their accessbot ID or email) to one public key in authorized_keys
	// form. It is used when the bot has no key registered for them.
	Keys map[string]string `yaml:"keys"`
	// RevokedKeys is the absolute path of the KRL sshd reads (RevokedKeys). The adapter needs
	// write access to its directory, where it also keeps its state and lock files.
	RevokedKeys string `yaml:"revoked_keys"`
	// KeyID is a template of the certificate's key ID, which sshd logs at every login. It must
	// contain {{.GrantID}}, so every login in sshd's log maps to its grant.
	KeyID string `yaml:"key_id"`
	// ClockSkew backdates valid_after for hosts whose clock runs behind the bot's; at most a
	// minute. Zero (the default) makes the validity exactly the grant window.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// MaxValidity is the longest certificate the adapter signs. A revocation without lease
	// data keeps its serial listed this long, because the certificate's expiry is unknown.
	MaxValidity time.Duration `yaml:"max_validity"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		Principals:  []string{"{{.Account}}"},
		Extensions:  []string{"permit-pty"},
		KeyID:       defaultKeyID,
		MaxValidity: defaultMaxValidity,
	}
}

// String describes the config without the key, the passphrase or the people's keys.
func (c Config) String() string {
	people := make([]string, 0, len(c.Keys))
	for k := range c.Keys {
		people = append(people, k)
	}
	sort.Strings(people)
	return fmt.Sprintf("sshcert{principals=%q extensions=%q source_address=%q revoked_keys=%s key_id=%q clock_skew=%s max_validity=%s keys_for=%q}",
		c.Principals, c.Extensions, c.SourceAddress, c.RevokedKeys, c.KeyID, c.ClockSkew, c.MaxValidity, people)
}

// GoString is String, so %#v cannot print the key either.
func (c Config) GoString() string { return c.String() }

// knownExtensions are the extensions OpenSSH defines for user certificates.
var knownExtensions = []string{
	"no-touch-required",
	"permit-X11-forwarding",
	"permit-agent-forwarding",
	"permit-port-forwarding",
	"permit-pty",
	"permit-user-rc",
}

// templateData is what the principal and key ID templates see.
type templateData struct {
	Account, SubjectID, Email, GrantID, Resource string
}

var sampleData = templateData{
	Account: "alice", SubjectID: "alice@example.com", Email: "alice@example.com", GrantID: "g-1", Resource: "prod-ssh",
}

// Validate checks the values and that the CA key loads (so `accessbot config validate` catches
// a wrong passphrase), without touching the revocation list.
// ResolvePaths makes revoked_keys relative to the config file's directory.
func (c *Config) ResolvePaths(dir string) {
	if c.RevokedKeys != "" && !filepath.IsAbs(c.RevokedKeys) {
		c.RevokedKeys = filepath.Join(dir, c.RevokedKeys)
	}
}

func (c *Config) Validate() error {
	if err := c.validateValues(); err != nil {
		return err
	}
	_, _, err := loadCA(c.CAKey, c.CAKeyPassphrase)
	return err
}

// validateValues checks everything but the key itself.
func (c *Config) validateValues() error {
	if c.CAKey == "" {
		return errors.New("ca_key is required (the CA's private key, e.g. ${file:/etc/accessbot/ssh_ca}, or its absolute path)")
	}
	if !looksLikePEM(string(c.CAKey)) && !filepath.IsAbs(string(c.CAKey)) {
		// The value is not quoted: it may be a key pasted without its PEM armour.
		return errors.New("ca_key must be a PEM private key or the absolute path of a file holding one")
	}
	if c.RevokedKeys == "" {
		return errors.New("revoked_keys is required (the KRL file sshd reads through RevokedKeys)")
	}
	if !filepath.IsAbs(c.RevokedKeys) || strings.HasSuffix(c.RevokedKeys, "/") {
		return fmt.Errorf("revoked_keys must be an absolute file path, got %q", c.RevokedKeys)
	}
	if len(c.Principals) == 0 {
		return errors.New("principals: at least one is required")
	}
	for i, p := range c.Principals {
		if _, err := renderTemplate("principal", p, sampleData); err != nil {
			return fmt.Errorf("principals[%d]: %w", i, err)
		}
	}
	seen := map[string]bool{}
	for i, e := range c.Extensions {
		if !slices.Contains(knownExtensions, e) && !vendorExtension(e) {
			return fmt.Errorf("extensions[%d]: %q is not an OpenSSH certificate extension (one of %s, or name@domain)",
				i, e, strings.Join(knownExtensions, ", "))
		}
		if seen[e] {
			return fmt.Errorf("extensions[%d]: %q is listed twice", i, e)
		}
		seen[e] = true
	}
	if c.SourceAddress != "" {
		if err := checkSourceAddress(c.SourceAddress); err != nil {
			return fmt.Errorf("source_address: %w", err)
		}
	}
	for person, line := range c.Keys {
		if strings.TrimSpace(person) == "" {
			return errors.New("keys: a person's ID or email is empty")
		}
		if _, err := parseUserKey(line); err != nil {
			return fmt.Errorf("keys: key of %s: %w", person, err)
		}
	}
	if c.KeyID == "" {
		return errors.New("key_id must not be empty")
	}
	// The sample grant ID is one no other field or literal text can produce by accident.
	probe := sampleData
	probe.GrantID = "g-keyid-probe-7f3a9c"
	rendered, err := renderTemplate("key_id", c.KeyID, probe)
	if err != nil {
		return fmt.Errorf("key_id: %w", err)
	}
	// sshd logs the key ID at every login: with the grant ID in it, each login in the server's
	// log maps to the grant that allowed it (accessbot grants show ID).
	if !strings.Contains(rendered, probe.GrantID) {
		return errors.New("key_id must contain {{.GrantID}}, so that sshd's log of each login names the grant")
	}
	if c.ClockSkew < 0 || c.ClockSkew > maxClockSkew {
		return fmt.Errorf("clock_skew must be between 0 and %s, got %s", maxClockSkew, c.ClockSkew)
	}
	if c.MaxValidity < time.Minute || c.MaxValidity > maxMaxValidity {
		return fmt.Errorf("max_validity must be between 1m and %s, got %s", maxMaxValidity, c.MaxValidity)
	}
	return nil
}

func looksLikePEM(s string) bool { return strings.Contains(s, "-----BEGIN ") }

func vendorExtension(e string) bool {
	name, domain, ok := strings.Cut(e, "@")
	return ok && name != "" && domain != "" && printable(e) && !strings.ContainsAny(e, " ,")
}

func checkSourceAddress(list string) error {
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return errors.New("an empty entry")
		}
		if _, _, err := net.ParseCIDR(a); err == nil {
			continue
		}
		if net.ParseIP(a) == nil {
			return fmt.Errorf("%q is neither an IP address nor a CIDR block", a)
		}
	}
	return nil
}

// renderTemplate parses and executes one template. Both the parse and the execution fail on a
// field the data does not have, which is how a typo in the config is caught at start.
func renderTemplate(name, text string, data templateData) (string, error) {
	t, err := tmpl.Parse(name, text, tmpl.Options{MissingKeyError: true})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// parseUserKey parses one authorized_keys line and refuses keys a CA should not sign: a
// certificate, DSA, RSA under 2048 bits.
func parseUserKey(line string) (ssh.PublicKey, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, errors.New("not a public key in authorized_keys form")
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
		return key, nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return nil, errors.New("unreadable RSA key")
		}
		rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey)
		if !ok || rk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA keys need at least %d bits", minRSABits)
		}
		return key, nil
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return nil, errors.New("a certificate, not a public key")
	}
	return nil, fmt.Errorf("key type %s is not accepted (use ed25519, ECDSA or RSA of %d bits or more)", key.Type(), minRSABits)
}
