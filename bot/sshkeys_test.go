package bot_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
)

// keyPair is a test key: the .pub line people paste, and the private key they must not.
type keyPair struct {
	pub         ssh.PublicKey
	line        string // "ssh-ed25519 AAAA... comment"
	fingerprint string
	privatePEM  string
}

func newKeyPair(t testing.TB, key any, comment string) keyPair {
	t.Helper()
	if key == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = priv
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return keyPair{pub: signer.PublicKey(), line: line, fingerprint: ssh.FingerprintSHA256(signer.PublicKey()),
		privatePEM: string(pem.EncodeToMemory(block))}
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseSSHKeyAcceptsAPubFileLineHoweverItIsPasted(t *testing.T) {
	ed := newKeyPair(t, nil, "alice@laptop")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaKey := newKeyPair(t, ec, "")
	rsa2048 := newKeyPair(t, rsaKey(t, 2048), "old-laptop")
	bare := strings.TrimSuffix(ed.line, " alice@laptop")
	tests := []struct {
		name, in string
		kp       keyPair
		comment  string
	}{
		{"as it is", ed.line, ed, "alice@laptop"},
		{"with a newline after it", ed.line + "\n", ed, "alice@laptop"},
		{"in backticks", "`" + ed.line + "`", ed, "alice@laptop"},
		{"in a code block", "```\n" + ed.line + "\n```", ed, "alice@laptop"},
		{"in quotes", `"` + ed.line + `"`, ed, "alice@laptop"},
		{"a comment with spaces and a control character", bare + " my \tkey\x07 2026", ed, "my key 2026"},
		{"no comment", bare, ed, ""},
		{"ecdsa", ecdsaKey.line, ecdsaKey, ""},
		{"rsa of 2048 bits", rsa2048.line, rsa2048, "old-laptop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := bot.ParseSSHKey(tt.in)
			if err != nil {
				t.Fatalf("ParseSSHKey: %v", err)
			}
			want := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(tt.kp.pub)))
			if k.Key != want || k.Type != tt.kp.pub.Type() || k.Fingerprint != tt.kp.fingerprint || k.Comment != tt.comment {
				t.Errorf("got %+v\nwant key %q type %s fingerprint %s comment %q", k, want, tt.kp.pub.Type(), tt.kp.fingerprint, tt.comment)
			}
		})
	}
}

func TestParseSSHKeyRefusesWhatMustNotBeSignedInOneSentence(t *testing.T) {
	ed := newKeyPair(t, nil, "alice@laptop")
	weak := newKeyPair(t, rsaKey(t, 1024), "")
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t, 1024))}))
	armourless := strings.Join(strings.Split(ed.privatePEM, "\n")[1:4], "")

	_, caPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: ed.pub, CertType: ssh.UserCert, KeyId: "x", ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))
	dsaBlob := ssh.Marshal(struct {
		Name       string
		P, Q, G, Y []byte
	}{"ssh-dss", []byte{1}, []byte{2}, []byte{3}, []byte{4}})
	dsa := "ssh-dss " + base64.StdEncoding.EncodeToString(dsaBlob) + " old"

	tests := []struct {
		name, in string
		private  bool
		say      string
	}{
		{"an OpenSSH private key", ed.privatePEM, true, bot.ErrPrivateKeyMessage},
		{"a PKCS#1 private key", pkcs1, true, bot.ErrPrivateKeyMessage},
		{"a private key without its armour", armourless, true, bot.ErrPrivateKeyMessage},
		{"a PuTTY key", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAA", true, bot.ErrPrivateKeyMessage},
		{"a private key longer than the limit", ed.privatePEM + strings.Repeat("A", 20<<10), true, bot.ErrPrivateKeyMessage},
		{"RSA under 2048 bits", weak.line, false, "That RSA key has 1024 bits and at least 2048 are needed"},
		{"DSA", dsa, false, "DSA keys are not accepted"},
		{"a certificate", certLine, false, "That is a certificate, not a public key"},
		{"two keys", ed.line + "\n" + weak.line, false, "Paste exactly one key, on one line"},
		{"authorized_keys options", `from="10.0.0.1" ` + ed.line, false, "without authorized_keys options"},
		{"a fingerprint", ed.fingerprint, false, "That is a key's fingerprint, not the key"},
		{"nonsense", "hunter2 is my password", false, "That is not an SSH public key"},
		{"a truncated key", ed.line[:40], false, "That is not an SSH public key"},
		{"nothing", "  ``  ", false, "Paste your public key"},
		{"too long", ed.line + strings.Repeat(" x", 5<<10), false, "too long for an SSH public key (at most 8 KiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := bot.ParseSSHKey(tt.in)
			var ke *bot.SSHKeyError
			if !errors.As(err, &ke) {
				t.Fatalf("ParseSSHKey = %+v, %v; want an *SSHKeyError", k, err)
			}
			if ke.PrivateKey != tt.private || !strings.Contains(ke.Message, tt.say) {
				t.Errorf("error %+v\nwant private=%v and a message saying %q", ke, tt.private, tt.say)
			}
			if sentenceBreak.MatchString(ke.Message) || !strings.HasSuffix(ke.Message, ".") {
				t.Errorf("message is more than one sentence: %q", ke.Message)
			}
			for _, part := range strings.Fields(tt.in) {
				if len(part) > 12 && strings.Contains(ke.Message, part) {
					t.Errorf("message quotes the input (%q): %q", part, ke.Message)
				}
			}
		})
	}
}

// sentenceBreak is where one sentence ends and another starts.
var sentenceBreak = regexp.MustCompile(`[.!?] [A-Z]`)

func TestNormalizeFingerprintAcceptsHowPeopleTypeIt(t *testing.T) {
	kp := newKeyPair(t, nil, "")
	b64 := strings.TrimPrefix(kp.fingerprint, "SHA256:")
	for _, in := range []string{kp.fingerprint, "sha256:" + b64, b64, b64 + "=", "`" + kp.fingerprint + "`"} {
		if got, ok := bot.NormalizeFingerprint(in); !ok || got != kp.fingerprint {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v; want %q", in, got, ok, kp.fingerprint)
		}
	}
	for _, in := range []string{"", "SHA256:", "MD5:" + b64, "SHA256:" + b64[:40], "SHA256:" + b64[:42] + "!", kp.line} {
		if got, ok := bot.NormalizeFingerprint(in); ok {
			t.Errorf("NormalizeFingerprint(%q) = %q, want refused", in, got)
		}
	}
}

func TestSSHKeyAddListAndRemoveAnswerPrivatelyAndAreAudited(t *testing.T) {
	h := newHarness(t)
	laptop := newKeyPair(t, nil, "alice@laptop")
	desk := newKeyPair(t, nil, "alice@desk")

	v := view(t, h.Command(alice, "ssh-key list"))
	says(t, v, "Your SSH keys", "You have no SSH key registered", "/access ssh-key add")

	v = view(t, h.Command(alice, "ssh-key add "+laptop.line))
	if v.Title != "SSH key added" || v.Tone != bot.ToneSuccess {
		t.Errorf("add: %s (%s)", v.Title, v.Tone)
	}
	says(t, v, "ssh-ed25519", laptop.fingerprint, "alice@laptop", "used for certificates", "1 of 5 keys")
	h.Advance(time.Minute)
	v = view(t, h.Command(alice, "ssh-key add `"+desk.line+"`"))
	says(t, v, desk.fingerprint, laptop.fingerprint, "2 of 5 keys")
	if len(v.Fields) != 2 || !strings.Contains(v.Fields[0].Label, desk.fingerprint) || !strings.Contains(v.Fields[0].Value, "used for certificates") {
		t.Errorf("the newest key is not listed first as the one used: %+v", v.Fields)
	}
	if strings.Contains(viewText(v), strings.Fields(desk.line)[1]) {
		t.Errorf("the reply shows the whole key, not its fingerprint:\n%s", viewText(v))
	}
	pub, err := h.DB.PublicKeys(h.Ctx, alice.ID)
	if err != nil || len(pub) != 2 || pub[0] != strings.TrimSuffix(desk.line, " alice@desk") {
		t.Errorf("PublicKeys(alice) = %q, %v", pub, err)
	}

	v = view(t, h.Command(alice, "ssh-key add "+desk.line))
	if v.Title != "Already registered" {
		t.Errorf("adding a key again: %q", v.Title)
	}

	v = view(t, h.Command(alice, "ssh-key"))
	if v.Title != "Your SSH keys" || len(v.Fields) != 2 {
		t.Errorf("`ssh-key` alone: %s with %d keys, want the list of 2", v.Title, len(v.Fields))
	}

	v = view(t, h.Command(alice, "ssh-key remove "+strings.TrimPrefix(laptop.fingerprint, "SHA256:")))
	if v.Title != "SSH key removed" {
		t.Errorf("remove: %q", v.Title)
	}
	says(t, v, laptop.fingerprint, "stay valid until they expire", "1 of 5 keys")

	var got []string
	for _, e := range h.AuditEvents(audit.SSHKeyAdded, audit.SSHKeyRemoved) {
		got = append(got, e.Type+" "+e.Actor+" "+e.Data["fingerprint"])
		if len(e.Data) != 1 {
			t.Errorf("event %s has data %v, want only the fingerprint", e.Type, e.Data)
		}
	}
	want := []string{
		"sshkey.added " + alice.ID + " " + laptop.fingerprint,
		"sshkey.added " + alice.ID + " " + desk.fingerprint,
		"sshkey.removed " + alice.ID + " " + laptop.fingerprint,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit events\n got %q\nwant %q", got, want)
	}
	// Registering a key is not news for any channel or DM.
	if n := h.Deliver(); n != 0 {
		t.Errorf("%d messages sent about SSH keys, want none", n)
	}
}

func TestAnotherPersonCannotRemoveYourSSHKey(t *testing.T) {
	h := newHarness(t)
	kp := newKeyPair(t, nil, "alice@laptop")
	view(t, h.Command(alice, "ssh-key add "+kp.line))

	v := view(t, h.Command(bob, "ssh-key remove "+kp.fingerprint))
	if v.Title != "Not found" || v.Tone != bot.ToneDanger {
		t.Errorf("bob removing alice's key: %s (%s)", v.Title, v.Tone)
	}
	says(t, v, "You have no SSH key with fingerprint `"+kp.fingerprint+"`", "0 of 5 keys")
	if strings.Contains(viewText(v), "alice") {
		t.Errorf("the refusal tells bob about alice's keys:\n%s", viewText(v))
	}
	if keys, _ := h.DB.SSHKeys(h.Ctx, alice.ID); len(keys) != 1 {
		t.Errorf("alice has %d keys after bob's attempt, want 1", len(keys))
	}
	if evs := h.AuditEvents(audit.SSHKeyRemoved); len(evs) != 0 {
		t.Errorf("a removal was recorded: %+v", evs)
	}
	// And bob's list shows only his own (none).
	if v := view(t, h.Command(bob, "ssh-key list")); len(v.Fields) != 0 {
		t.Errorf("bob's list shows %+v", v.Fields)
	}
}

func TestAPastedPrivateKeyIsRefusedNeverStoredNorShownNorLogged(t *testing.T) {
	h := newHarness(t)
	kp := newKeyPair(t, nil, "alice@laptop")
	secretLine := strings.Split(kp.privatePEM, "\n")[2]
	for _, text := range []string{"ssh-key add " + kp.privatePEM, "ssh-key " + kp.privatePEM, "sshkey add\n" + kp.privatePEM} {
		r := h.Command(alice, text)
		v := view(t, r)
		if v.Title != "That is a private key" || v.Tone != bot.ToneDanger {
			t.Errorf("%q: %s (%s)", text[:20], v.Title, v.Tone)
		}
		says(t, v, "never paste it anywhere; paste the .pub file")
		if all := viewText(v); strings.Contains(all, secretLine) || strings.Contains(all, "BEGIN") {
			t.Errorf("the reply shows the private key:\n%s", all)
		}
	}
	if keys, _ := h.DB.SSHKeys(h.Ctx, alice.ID); len(keys) != 0 {
		t.Errorf("a key was stored: %+v", keys)
	}
	if evs := h.AuditEvents(audit.SSHKeyAdded); len(evs) != 0 {
		t.Errorf("an add was recorded: %+v", evs)
	}
	logs := h.Logs.String()
	if !strings.Contains(logs, "pasted a private key") || strings.Contains(logs, secretLine) {
		t.Errorf("logs should say it happened, without the key:\n%s", logs)
	}
}

func TestSSHKeyRefusalsAndTheLimit(t *testing.T) {
	h := newHarness(t)
	weak := newKeyPair(t, rsaKey(t, 1024), "")
	v := view(t, h.Command(alice, "ssh-key add "+weak.line))
	if v.Title != "Key not added" {
		t.Errorf("weak key: %q", v.Title)
	}
	says(t, v, "1024 bits", "/access help ssh-key")

	v = view(t, h.Command(alice, "ssh-key remove not-a-fingerprint"))
	if v.Title != "That command is not complete" {
		t.Errorf("bad fingerprint: %q", v.Title)
	}
	says(t, v, "not a key fingerprint", "/access ssh-key list")

	for i := range bot.MaxSSHKeys {
		if v := view(t, h.Command(alice, "ssh-key add "+newKeyPair(t, nil, "").line)); v.Title != "SSH key added" {
			t.Fatalf("key %d: %s: %s", i+1, v.Title, v.Text)
		}
	}
	v = view(t, h.Command(alice, "ssh-key add "+newKeyPair(t, nil, "").line))
	if v.Title != "Too many SSH keys" || len(v.Fields) != bot.MaxSSHKeys {
		t.Errorf("key %d: %s with %d keys listed", bot.MaxSSHKeys+1, v.Title, len(v.Fields))
	}
	says(t, v, "You have 5 SSH keys", "/access ssh-key remove")
}

func TestHelpListsTheSSHKeyCommands(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"help", "help ssh-key"} {
		v := view(t, h.Command(alice, text))
		says(t, v, "/access ssh-key add ssh-ed25519", "/access ssh-key list", "/access ssh-key remove SHA256:")
	}
	if v := view(t, h.Command(alice, "help ssh-key")); len(v.Fields) != 3 {
		t.Errorf("help ssh-key shows %d fields, want its 3 commands", len(v.Fields))
	}
	v := view(t, h.Command(alice, "ssh"))
	says(t, v, "Did you mean `/access ssh-key`?")
}

// The fingerprint in help's example is one `/access ssh-key remove` accepts.
func TestTheHelpExampleFingerprintIsWellFormed(t *testing.T) {
	c, err := bot.Parse("ssh-key remove SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s")
	if err != nil || c.Sub != bot.SSHKeyRemove {
		t.Errorf("Parse of the help example: %+v, %v", c, err)
	}
}
