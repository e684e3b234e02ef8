package config_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/sshcert"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/storage"
)

// pubLine makes a key pair and returns its public half as a .pub file's line, and the private
// half as an OpenSSH PEM.
func pubLine(t *testing.T, comment string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment, string(pem.EncodeToMemory(block))
}

func withoutComment(line string) string {
	f := strings.Fields(line)
	return f[0] + " " + f[1]
}

func TestSSHKeysInTheConfigAreAKeySourceByIDInAnyCase(t *testing.T) {
	k1, _ := pubLine(t, "alice@laptop")
	k2, _ := pubLine(t, "alice@desk")
	kb, _ := pubLine(t, "")
	c := mustParse(t, valid+`ssh_keys:
  "Alice@Example.com": ["`+k1+`", "`+k2+`"]
  "slack:U0BOB": ["`+kb+`"]
`, nil)
	src := c.KeysFromConfig()
	if src == nil {
		t.Fatal("KeysFromConfig is nil with keys in the config")
	}
	ctx := context.Background()
	got, err := src.PublicKeys(ctx, "alice@example.com")
	if want := []string{withoutComment(k1), withoutComment(k2)}; err != nil || !slices.Equal(got, want) {
		t.Errorf("PublicKeys(alice) = %q, %v; want %q (in order, comments dropped)", got, err, want)
	}
	if got, _ := src.PublicKeys(ctx, "slack:U0BOB"); !slices.Equal(got, []string{withoutComment(kb)}) {
		t.Errorf("PublicKeys(slack:U0BOB) = %q", got)
	}
	if got, err := src.PublicKeys(ctx, "carol@example.com"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("PublicKeys(carol) = %#v, %v; want an empty slice", got, err)
	}
	if mustParse(t, valid, nil).KeysFromConfig() != nil {
		t.Error("KeysFromConfig is not nil without ssh_keys")
	}
}

func TestSSHKeyMistakesInTheConfigAreReportedWithoutTheKey(t *testing.T) {
	good, _ := pubLine(t, "ok")
	_, private := pubLine(t, "secret-comment")
	rsaSmall := "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7" // truncated: not a key at all
	src := valid + `ssh_keys:
  alice@example.com:
    - |
` + indent(private, "      ") + `
    - "` + rsaSmall + `"
    - "` + good + `"
    - "` + good + `"
    - ""
  bob: ["` + good + `"]
  carol@example.com: []
  Dave@example.com: ["` + good + `"]
  dave@example.com: ["` + good + `"]
`
	_, err := config.Parse(testFile, []byte(src), envOf(nil))
	got := problemsOf(t, err)
	want := []string{
		`accessbot.yaml:10: ssh_keys["alice@example.com"][0]: that is a private key — never put it in the config`,
		`ssh_keys["alice@example.com"][1]: That is not an SSH public key`,
		`ssh_keys["alice@example.com"][3]: the same key as ssh_keys["alice@example.com"][2]`,
		`ssh_keys["alice@example.com"][4]: empty`,
		`ssh_keys.bob: "bob" is not a person's accessbot ID`,
		`ssh_keys["carol@example.com"]: no keys`,
		`ssh_keys["dave@example.com"]: names the same person as ssh_keys["Dave@example.com"]`,
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems do not say %q:\n%s", w, all)
		}
	}
	for _, secret := range []string{"PRIVATE KEY", "b3BlbnNzaC1rZXktdjE", "secret-comment", "AAAAB3NzaC1yc2E", strings.Fields(good)[1]} {
		if strings.Contains(all, secret) {
			t.Errorf("problems quote a key (%q):\n%s", secret, all)
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// The example's commented ssh_keys section is valid once uncommented.
func TestTheExampleSSHKeysSectionIsValid(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	in := false
	for line := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(line, "# ssh_keys:"):
			in = true
		case in && !strings.HasPrefix(line, "#   "):
			in = false
		}
		if in {
			section = append(section, strings.TrimPrefix(line, "# "))
		}
	}
	if len(section) < 3 {
		t.Fatalf("no commented ssh_keys section in the example: %q", section)
	}
	c := mustParse(t, valid+strings.Join(section, ""), nil)
	keys, err := c.KeysFromConfig().PublicKeys(context.Background(), "alice@example.com")
	if err != nil || len(keys) != 1 {
		t.Errorf("the example's keys for alice: %q, %v", keys, err)
	}
}

// BuildResourcesWith hands adapters the store's keys, then the config's; BuildResources the
// config's alone. An sshcert resource signs accordingly.
func TestBuildResourcesWithGivesAdaptersTheStoreKeysThenTheConfigKeys(t *testing.T) {
	dir := t.TempDir()
	_, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(caKey, "ca")
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "ca")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	fromConfig, _ := pubLine(t, "from-config")
	c := mustParse(t, `groups: {sre: [bob@example.com]}
ssh_keys:
  alice@example.com: ["`+fromConfig+`"]
resources:
  - name: prod-ssh
    adapter:
      type: sshcert
      ca_key: `+caPath+`
      revoked_keys: `+filepath.Join(dir, "revoked_keys")+`
    policy: {approvers: [sre]}
`, nil)

	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: filepath.Join(dir, "accessbot.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	registered, _ := pubLine(t, "from-chat")
	k, err := bot.ParseSSHKey(registered)
	if err != nil {
		t.Fatal(err)
	}
	k.Person, k.AddedAt = "alice@example.com", time.Now()
	if err := db.AddPublicKey(ctx, k); err != nil {
		t.Fatal(err)
	}

	sign := func(t *testing.T, a adapters.Adapter) string {
		t.Helper()
		now := time.Now()
		lease, err := a.Grant(ctx, adapters.GrantRequest{GrantID: "g-1", Resource: "prod-ssh",
			Subject: adapters.Subject{ID: "alice@example.com", Email: "alice@example.com", Account: "alice"},
			Start:   now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatalf("grant: %v", err)
		}
		return lease.Data[sshcert.LeaseFingerprint]
	}
	fingerprintOf := func(line string) string {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		return ssh.FingerprintSHA256(pk)
	}

	res, err := c.BuildResourcesWith(config.BuildOptions{Log: zerolog.Nop(), PublicKeys: db})
	if err != nil {
		t.Fatal(err)
	}
	if got := sign(t, res[0].Adapter); got != k.Fingerprint {
		t.Errorf("BuildResourcesWith(store): signed %s, want the key registered in chat %s", got, k.Fingerprint)
	}
	res, err = c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if got := sign(t, res[0].Adapter); got != fingerprintOf(fromConfig) {
		t.Errorf("BuildResources: signed %s, want the config's key %s", got, fingerprintOf(fromConfig))
	}
}
