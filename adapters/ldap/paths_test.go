package ldap

import (
	"path/filepath"
	"testing"
)

// Relative TLS files are relative to the config file's directory; absolute ones and unset
// ones stay as written.
func TestResolvePathsMakesTLSFilesRelativeToTheConfig(t *testing.T) {
	c := &Config{TLS: TLSConfig{CAFile: "tls/ca.pem", CertFile: "/etc/ssl/client.pem"}}
	c.ResolvePaths("/etc/accessbot")
	if c.TLS.CAFile != filepath.Join("/etc/accessbot", "tls", "ca.pem") || c.TLS.CertFile != "/etc/ssl/client.pem" || c.TLS.KeyFile != "" {
		t.Errorf("ca %q, cert %q, key %q", c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
	}
}
