// Package sshkey reads the SSH public keys people register for SSH certificates, the same way
// in chat (`/access ssh-key add`) and in the config (`ssh_keys:`): it refuses private keys,
// certificates, DSA and short RSA keys, and says why in one sentence that never quotes the input.
package sshkey

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Key is an SSH public key a person registered, for the adapters that sign or install keys
// (sshcert).
type Key struct {
	// Person is the owner's grants.Actor.ID.
	Person string
	// Type is the key's algorithm ("ssh-ed25519").
	Type string
	// Key is the key in authorized_keys form, without options or comment ("ssh-ed25519 AAAA...").
	Key string
	// Comment is the comment it was pasted with, cleaned up; shown to tell keys apart.
	Comment string
	// Fingerprint is the key's SHA256 fingerprint ("SHA256:..."), as ssh-keygen -l shows it.
	Fingerprint string
	AddedAt     time.Time
}

// MaxKeys is the most keys one person may register.
const MaxKeys = 5

// Errors of the stores that keep keys.
var (
	// ErrExists: the person already registered this key.
	ErrExists = errors.New("SSH key already registered")
	// ErrTooMany: the person already has MaxKeys keys.
	ErrTooMany = errors.New("too many SSH keys")
	// ErrUnknown: the person has no key with that fingerprint.
	ErrUnknown = errors.New("no such SSH key")
)

// MaxInput bounds what Parse reads. A public key line is under 2 KiB even for RSA of
// 8192 bits.
const MaxInput = 8 << 10

// minRSABits is the smallest RSA key accepted, as the sshcert adapter requires.
const minRSABits = 2048

// maxCommentRunes bounds the comment kept with a key: enough for "alice@laptop-2026".
const maxCommentRunes = 80

// Error says why a pasted key was refused, in one sentence for the person who pasted it.
// It never quotes what was pasted, which may be a secret.
type Error struct {
	// PrivateKey is set when what was pasted is a private key.
	PrivateKey bool
	Message    string
}

func (e *Error) Error() string { return e.Message }

func keyErrorf(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// privateKeyMarkers are what private keys contain and public keys never do: PEM armour
// ("-----BEGIN OPENSSH PRIVATE KEY-----", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"...),
// PuTTY's .ppk header, and the base64 of "openssh-key-v1\0" that starts an OpenSSH private key
// pasted without its armour.
var privateKeyMarkers = []string{"PRIVATE KEY", "PuTTY-User-Key-File", "b3BlbnNzaC1rZXktdjE"}

const dsaMessage = "DSA keys are not accepted (OpenSSH no longer supports them): make an ed25519 key with `ssh-keygen -t ed25519` and paste its .pub file."

// ErrPrivateKeyMessage is what a person who pasted a private key is told.
const ErrPrivateKeyMessage = "That is a private key — never paste it anywhere; paste the .pub file " +
	"(e.g. ~/.ssh/id_ed25519.pub), and since this one has now been shared, make a new key pair with `ssh-keygen -t ed25519`."

// Parse reads a public key as people paste it (the one line of a .pub file, perhaps in
// backticks) and refuses what the sshcert adapter must not sign: private keys, certificates,
// DSA, RSA under 2048 bits, several keys, authorized_keys options. Errors are *Error.
// The key returned has Type, Key, Comment and Fingerprint set.
func Parse(text string) (Key, error) {
	for _, m := range privateKeyMarkers {
		if strings.Contains(text, m) {
			return Key{}, &Error{PrivateKey: true, Message: ErrPrivateKeyMessage}
		}
	}
	if len(text) > MaxInput {
		return Key{}, keyErrorf("That is too long for an SSH public key (at most 8 KiB): paste the one line of your .pub file.")
	}
	text = strings.TrimSpace(text)
	if t, ok := strings.CutPrefix(text, "```"); ok {
		text = strings.TrimSpace(strings.TrimSuffix(t, "```"))
	}
	text = strings.TrimSpace(unquote(text))
	if text == "" {
		return Key{}, keyErrorf("Paste your public key after `/access ssh-key add`: the one line of your .pub file (e.g. ~/.ssh/id_ed25519.pub).")
	}
	if strings.ContainsAny(text, "\r\n") {
		return Key{}, keyErrorf("Paste exactly one key, on one line: the content of one .pub file (add several keys one at a time).")
	}
	if strings.HasPrefix(text, "SHA256:") || strings.HasPrefix(text, "MD5:") {
		return Key{}, keyErrorf("That is a key's fingerprint, not the key: paste the content of your .pub file (e.g. ~/.ssh/id_ed25519.pub).")
	}
	if f := strings.Fields(text); strings.HasPrefix(f[0], "ssh-dss") {
		// x/crypto/ssh no longer parses DSA keys at all: say why rather than "not a key".
		return Key{}, keyErrorf(dsaMessage)
	}
	key, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return Key{}, keyErrorf("That is not an SSH public key: paste the one line of your .pub file (e.g. ~/.ssh/id_ed25519.pub), which starts with ssh-ed25519, ecdsa-sha2-… or ssh-rsa.")
	}
	if len(options) > 0 {
		return Key{}, keyErrorf("Paste the key without authorized_keys options (from=, command=, …): just the content of your .pub file.")
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return Key{}, keyErrorf("That is a certificate, not a public key: paste the .pub file of the key itself, not its -cert.pub file.")
	}
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256:
	case ssh.KeyAlgoRSA:
		bits := 0
		if ck, ok := key.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok {
				bits = rk.N.BitLen()
			}
		}
		if bits < minRSABits {
			return Key{}, keyErrorf("That RSA key has %d bits and at least %d are needed: make an ed25519 key with `ssh-keygen -t ed25519` and paste its .pub file.", bits, minRSABits)
		}
	default:
		return Key{}, keyErrorf("Keys of type %s are not accepted: use ed25519, ECDSA or RSA of at least %d bits (`ssh-keygen -t ed25519`).", key.Type(), minRSABits)
	}
	return Key{
		Type:        key.Type(),
		Key:         strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		Comment:     cleanComment(comment),
		Fingerprint: ssh.FingerprintSHA256(key),
	}, nil
}

// cleanComment keeps a key's comment printable, on one line and short.
func cleanComment(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.Join(strings.Fields(s), " "), maxCommentRunes)
}

// sha256Len is the length of an unpadded base64 SHA-256 digest.
var sha256Len = base64.RawStdEncoding.EncodedLen(32)

// NormalizeFingerprint reads a SHA256 key fingerprint as people type it ("SHA256:abc…", in any
// case of the prefix, with or without it, with or without base64 padding) and returns it as
// ssh-keygen -l shows it.
func NormalizeFingerprint(s string) (string, bool) {
	s = strings.TrimSpace(unquote(strings.TrimSpace(s)))
	if len(s) >= 7 && strings.EqualFold(s[:7], "SHA256:") {
		s = s[7:]
	}
	s = strings.TrimSuffix(s, "=")
	if len(s) != sha256Len {
		return "", false
	}
	if _, err := base64.RawStdEncoding.DecodeString(s); err != nil {
		return "", false
	}
	return "SHA256:" + s, true
}

// quotes are the pairs people (and chat apps that "smarten" them) put around a pasted key.
var quotes = [][2]string{{`"`, `"`}, {`'`, `'`}, {"`", "`"}, {"“", "”"}, {"‘", "’"}}

// unquote removes one pair of matching quotes around all of s.
func unquote(s string) string {
	for _, q := range quotes {
		if len(s) >= len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) {
			if inner := s[len(q[0]) : len(s)-len(q[1])]; !strings.Contains(inner, q[1]) {
				return inner
			}
		}
	}
	return s
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
