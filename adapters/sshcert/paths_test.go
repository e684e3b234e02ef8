package sshcert

import "testing"

// A relative revoked_keys is relative to the config file's directory; an absolute one stays.
func TestResolvePathsMakesRevokedKeysRelativeToTheConfig(t *testing.T) {
	c := &Config{RevokedKeys: "krl/revoked"}
	c.ResolvePaths("/etc/accessbot")
	if c.RevokedKeys != "/etc/accessbot/krl/revoked" {
		t.Errorf("revoked_keys %q", c.RevokedKeys)
	}
	c = &Config{RevokedKeys: "/etc/ssh/revoked"}
	c.ResolvePaths("/etc/accessbot")
	if c.RevokedKeys != "/etc/ssh/revoked" {
		t.Errorf("an absolute revoked_keys became %q", c.RevokedKeys)
	}
}
