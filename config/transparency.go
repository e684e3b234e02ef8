package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"time"
)

// DefaultPublishInterval is how often a signed checkpoint goes to the witness channel.
const DefaultPublishInterval = time.Hour

// Transparency is the `transparency:` section: the signed checkpoints of the audit log's
// Merkle tree (audit/translog, docs/transparency.md). Off when the section is absent.
type Transparency struct {
	// Origin names the log in every checkpoint, e.g. "accessbot.example.com/audit"; it is also
	// the name of the signing key. No spaces and no '+'.
	Origin string `yaml:"origin"`
	// KeyFile is a file holding the signer key ("PRIVATE+KEY+<origin>+..."), made by the
	// operator's key generation (translog.GenerateKey). Exactly one of key_file and key.
	KeyFile string `yaml:"key_file"`
	// Key is the signer key itself, e.g. "${CHECKPOINT_KEY}".
	Key Secret `yaml:"key"`
	// WitnessChannel is the chat channel (an ID, as security_channel takes) where a signed
	// checkpoint is posted every PublishInterval, for people outside accessbot to keep.
	WitnessChannel string `yaml:"witness_channel"`
	// PublishInterval is how often the checkpoint is published. Default 1h.
	PublishInterval time.Duration `yaml:"publish_interval"`

	enabled bool
}

func defaultTransparency() Transparency {
	return Transparency{PublishInterval: DefaultPublishInterval}
}

// Enabled reports whether the config has a transparency: section, so checkpoints are signed.
func (t Transparency) Enabled() bool { return t.enabled }

// SignerKey returns the signer key, from key or read from key_file. Never log it.
func (t Transparency) SignerKey() (string, error) {
	if t.Key != "" {
		return t.Key.Reveal(), nil
	}
	b, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return "", fmt.Errorf("read transparency.key_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (v *validator) transparency() {
	if !v.sectionSet("transparency") {
		return
	}
	t := &v.c.Transparency
	t.enabled = true
	t.Origin = strings.TrimSpace(t.Origin)
	originOK := validOrigin(t.Origin)
	if !originOK {
		v.add("transparency.origin", `required: the log's name, without spaces or '+', e.g. "accessbot.example.com/audit"`)
	}
	switch {
	case t.KeyFile != "" && t.Key != "":
		v.add("transparency.key", "set key_file or key, not both")
	case t.KeyFile == "" && t.Key == "":
		v.add("transparency.key_file", `required: a file with the checkpoint signer key (or key: "${CHECKPOINT_KEY}")`)
	default:
		path := "transparency.key"
		if t.KeyFile != "" {
			path = "transparency.key_file"
		}
		key, err := t.SignerKey()
		if err != nil {
			v.add(path, "cannot read it: %v", err)
			break
		}
		// Only the form and the name are checked here; audit/translog checks the key itself
		// when it signs. The message never quotes the key.
		if name, ok := signerKeyName(key); !ok {
			v.add(path, `is not a signed-note signer key ("PRIVATE+KEY+<origin>+<hash>+<key>")`)
		} else if originOK && name != t.Origin {
			v.add(path, "the key is for %q, not the origin %q: a checkpoint's key is named after its log", name, t.Origin)
		}
	}
	if strings.TrimSpace(t.WitnessChannel) != t.WitnessChannel || strings.ContainsAny(t.WitnessChannel, " \n\t") {
		v.add("transparency.witness_channel", "%s has spaces: use the channel's ID", v.quote("transparency.witness_channel", t.WitnessChannel))
	}
	switch {
	case t.PublishInterval < time.Minute:
		v.add("transparency.publish_interval", "must be at least 1m (the default is 1h)")
	case t.PublishInterval > 24*time.Hour:
		v.add("transparency.publish_interval", "must be at most 24h: a witness should see the log at least daily")
	}
}

// validOrigin is translog.ValidOrigin: a note key name, printable ASCII without spaces or '+'.
func validOrigin(s string) bool {
	if s == "" || len(s) > 255 || strings.Contains(s, "+") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > 0x7e {
			return false
		}
	}
	return true
}

// signerKeyName returns the name of a signed-note Ed25519 signer key,
// "PRIVATE+KEY+<name>+<8 hex>+<base64 of 0x01 and a 32-byte seed>", if s is one.
func signerKeyName(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "PRIVATE+KEY+")
	if !ok {
		return "", false
	}
	name, rest, _ := strings.Cut(rest, "+")
	hash, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if !validOrigin(name) || len(hash) != 8 || strings.Trim(hash, "0123456789abcdef") != "" || err != nil || len(raw) != 33 || raw[0] != 1 {
		return "", false
	}
	return name, true
}
