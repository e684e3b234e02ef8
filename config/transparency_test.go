package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A signer key as translog.GenerateKey makes them (origin accessbot.example.com/audit); config
// checks only its form and name.
const testSignerKey = "PRIVATE+KEY+accessbot.example.com/audit+1c6f0f9a+ASlr6ZCL5Gr1o3C3dhBS0Bip2wULAKaqu8yV1V9qHp1Y"

func TestTransparencyIsOffUnlessItsSectionIsThere(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Transparency.Enabled() || c.Transparency.PublishInterval != time.Hour {
		t.Errorf("default transparency = %+v, enabled %v", c.Transparency, c.Transparency.Enabled())
	}
}

func TestATransparencySectionIsRead(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "checkpoint.key")
	if err := os.WriteFile(keyFile, []byte(testSignerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, valid+`transparency:
  origin: accessbot.example.com/audit
  key_file: `+keyFile+`
  witness_channel: C0WITNESS
  publish_interval: 30m
`, nil)
	tr := c.Transparency
	if !tr.Enabled() || tr.Origin != "accessbot.example.com/audit" || tr.WitnessChannel != "C0WITNESS" || tr.PublishInterval != 30*time.Minute {
		t.Errorf("transparency = %+v", tr)
	}
	if key, err := tr.SignerKey(); err != nil || key != testSignerKey {
		t.Errorf("SignerKey() = %q, %v", key, err)
	}
	c = mustParse(t, valid+"transparency:\n  origin: accessbot.example.com/audit\n  key: ${KEY}\n", map[string]string{"KEY": testSignerKey})
	if key, err := c.Transparency.SignerKey(); err != nil || key != testSignerKey || c.Transparency.PublishInterval != time.Hour {
		t.Errorf("SignerKey() from key = %q, %v", key, err)
	}
}

func TestAWrongTransparencySectionIsReportedAtItsKey(t *testing.T) {
	for _, tt := range []struct{ name, section, want string }{
		{"no origin", "  key: ${KEY}\n", "transparency.origin: required"},
		{"an origin with a space", "  origin: my log\n  key: ${KEY}\n", "transparency.origin: required"},
		{"no key", "  origin: accessbot.example.com/audit\n", "transparency.key_file: required"},
		{"both keys", "  origin: accessbot.example.com/audit\n  key: ${KEY}\n  key_file: /nonexistent\n", "transparency.key: set key_file or key, not both"},
		{"a missing key file", "  origin: accessbot.example.com/audit\n  key_file: /nonexistent/checkpoint.key\n", "transparency.key_file: cannot read it"},
		{"a key of another log", "  origin: other.example.com/log\n  key: ${KEY}\n", `the key is for "accessbot.example.com/audit", not the origin "other.example.com/log"`},
		{"not a key", "  origin: accessbot.example.com/audit\n  key: ${BAD}\n", "transparency.key: is not a signed-note signer key"},
		{"too often", "  origin: accessbot.example.com/audit\n  key: ${KEY}\n  publish_interval: 10s\n", "transparency.publish_interval: must be at least 1m"},
		{"too rarely", "  origin: accessbot.example.com/audit\n  key: ${KEY}\n  publish_interval: 2d\n", "transparency.publish_interval: must be at most 24h"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"KEY": testSignerKey, "BAD": "PRIVATE+KEY+accessbot.example.com/audit+zz+secretstuff"}
			joined := parseErr(t, valid+"transparency:\n"+tt.section, env)
			if !strings.Contains(joined, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", joined, tt.want)
			}
			if strings.Contains(joined, "secretstuff") || strings.Contains(joined, "ASlr6ZCL") {
				t.Errorf("a problem shows the key:\n%s", joined)
			}
		})
	}
}
