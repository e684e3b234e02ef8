package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
)

var sinkEnv = map[string]string{"SIEM_WEBHOOK_SECRET": "hmac-key-from-env", "SPLUNK_HEC_TOKEN": "hec-token"}

func TestAuditSinksAreReadWithTheirDefaults(t *testing.T) {
	c := mustParse(t, valid+`audit_sinks:
  - name: splunk
    type: webhook
    url: "https://siem.example.com/in?token=abc"
    secret: "${SIEM_WEBHOOK_SECRET}"
    headers: {Authorization: "Splunk ${SPLUNK_HEC_TOKEN}"}
  - name: rsyslog
    type: syslog
    address: "syslog.example.com:514"
    facility: local3
    batch: 50
  - name: archive
    type: file
    path: /var/log/accessbot/audit.jsonl
    max_size: 1GB
  - name: syslog-by-number
    type: syslog
    address: "[::1]:6514"
    facility: 4
    timeout: 3s
    max_message_size: 64KB
  - name: small-file
    type: file
    path: audit.jsonl
    max_size: 4096
    max_files: 2
`, sinkEnv)
	s := c.AuditSinks
	if len(s) != 5 {
		t.Fatalf("%d sinks", len(s))
	}
	if s[0].Secret.Reveal() != "hmac-key-from-env" || s[0].Headers["Authorization"] != "Splunk hec-token" ||
		s[0].Timeout != 10*time.Second || s[0].Batch != 500 {
		t.Errorf("webhook sink %+v", s[0])
	}
	if s[1].FacilityCode() != 19 || s[1].Batch != 50 || s[1].Timeout != 10*time.Second || s[1].TLS {
		t.Errorf("syslog sink %+v, facility %d", s[1], s[1].FacilityCode())
	}
	if s[2].MaxSize != 1<<30 || s[2].MaxFiles != 5 {
		t.Errorf("file sink %+v", s[2])
	}
	if s[1].MaxMessageSize != 8096 {
		t.Errorf("syslog sink max_message_size %d, want the default 8096", s[1].MaxMessageSize)
	}
	if s[3].FacilityCode() != 4 || s[3].Timeout != 3*time.Second || s[3].MaxMessageSize != 64<<10 {
		t.Errorf("second syslog sink %+v", s[3])
	}
	if s[4].MaxSize != 4096 || s[4].MaxFiles != 2 {
		t.Errorf("second file sink %+v", s[4])
	}
	if c := mustParse(t, valid+"audit_sinks:\n  - {name: r, type: relp, address: \"h:2514\", facility: local0}\n", nil); c.AuditSinks[0].Type != config.SinkRELP ||
		c.AuditSinks[0].FacilityCode() != 16 || c.AuditSinks[0].Timeout != 10*time.Second {
		t.Errorf("relp sink %+v, facility %d", c.AuditSinks[0], c.AuditSinks[0].FacilityCode())
	}
	if c := mustParse(t, valid, nil); len(c.AuditSinks) != 0 {
		t.Errorf("sinks without a section: %+v", c.AuditSinks)
	}
	if c := mustParse(t, valid+"audit_sinks:\n  - {name: s, type: syslog, address: \"h:514\"}\n", nil); c.AuditSinks[0].FacilityCode() != 10 {
		t.Errorf("default facility %d, want authpriv (10)", c.AuditSinks[0].FacilityCode())
	}
}

func TestAuditSinkMistakesAreReportedAtTheirKey(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	const hook = "audit_sinks:\n  - name: siem\n    type: webhook\n    secret: k\n" // lines 8-11
	tests := []struct {
		name, src, want string
	}{
		{"an unknown key", hook + "    url: https://h/\n    urll: x\n",
			`accessbot.yaml:13: audit_sinks[0].urll: unknown key "urll" (did you mean "url"?)`},
		{"another type's key", hook + "    url: https://h/\n    path: /tmp/x\n",
			`accessbot.yaml:13: audit_sinks[0].path: is not a key of a webhook sink (its keys: name, type, batch, url, secret, timeout, headers)`},
		{"a URL that is not http", hook + "    url: ftp://h/?token=s3cr3t\n",
			`accessbot.yaml:12: audit_sinks[0].url: scheme must be http or https, got "ftp"`},
		{"a URL without a host", hook + "    url: \"https:///path\"\n",
			`accessbot.yaml:12: audit_sinks[0].url: no host`},
		{"a missing URL", hook,
			`accessbot.yaml:9: audit_sinks[0].url: required`},
		{"a missing secret", "audit_sinks:\n  - name: siem\n    type: webhook\n    url: https://h/\n",
			`accessbot.yaml:9: audit_sinks[0].secret: required: the HMAC key shared with the receiver`},
		{"a secret from an unset variable", "audit_sinks:\n  - name: siem\n    type: webhook\n    url: https://h/\n    secret: ${NOT_SET}\n",
			`accessbot.yaml:12: audit_sinks[0].secret: `},
		{"a reserved header", hook + "    url: https://h/\n    headers: {x-accessbot-signature: forged}\n",
			`accessbot.yaml:13: audit_sinks[0].headers.x-accessbot-signature: X-Accessbot-Signature is set by accessbot`},
		{"a zero timeout", hook + "    url: https://h/\n    timeout: 0s\n",
			`accessbot.yaml:13: audit_sinks[0].timeout: must be longer than zero`},
		{"a batch too large", hook + "    url: https://h/\n    batch: 100000\n",
			`accessbot.yaml:13: audit_sinks[0].batch: must be between 1 and 10000, got 100000`},
		{"a misspelt type", "audit_sinks:\n  - name: siem\n    type: syslogg\n",
			`accessbot.yaml:10: audit_sinks[0].type: unknown sink type "syslogg" (did you mean "syslog"?)`},
		{"no type", "audit_sinks:\n  - name: siem\n",
			`accessbot.yaml:9: audit_sinks[0].type: required: the sink type (webhook, syslog, relp or file)`},
		{"a bad name", "audit_sinks:\n  - name: My SIEM\n    type: file\n    path: x\n",
			`accessbot.yaml:9: audit_sinks[0].name: "My SIEM" is not a valid name`},
		{"a duplicate name", "audit_sinks:\n  - {name: a, type: file, path: x}\n  - {name: a, type: file, path: y}\n",
			`accessbot.yaml:10: audit_sinks[1].name: duplicate sink name "a" (first at line 9)`},
		{"an address without a port", "audit_sinks:\n  - name: s\n    type: syslog\n    address: syslog.example.com\n",
			`accessbot.yaml:11: audit_sinks[0].address: "syslog.example.com" is not host:port`},
		{"a relp sink without an address", "audit_sinks:\n  - name: s\n    type: relp\n",
			`accessbot.yaml:9: audit_sinks[0].address: required: the syslog server's host:port`},
		{"a CA for relp without tls", "audit_sinks:\n  - name: s\n    type: relp\n    address: h:2514\n    ca_file: /etc/ca.pem\n",
			`accessbot.yaml:12: audit_sinks[0].ca_file: needs tls: true`},
		{"port 0", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:0\n",
			`accessbot.yaml:11: audit_sinks[0].address: "h:0" has no valid port number`},
		{"a CA without tls", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:514\n    ca_file: /etc/ca.pem\n",
			`accessbot.yaml:12: audit_sinks[0].ca_file: needs tls: true`},
		{"a missing CA file", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:6514\n    tls: true\n    ca_file: " + filepath.Join(dir, "none.pem") + "\n",
			`accessbot.yaml:13: audit_sinks[0].ca_file: cannot read it`},
		{"a CA file without a certificate", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:6514\n    tls: true\n    ca_file: " + notPEM + "\n",
			`accessbot.yaml:13: audit_sinks[0].ca_file: holds no PEM certificate`},
		{"a client certificate without its key", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:6514\n    tls: true\n    cert_file: " + notPEM + "\n",
			`accessbot.yaml:9: audit_sinks[0].key_file: required with cert_file`},
		{"an unknown facility", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:514\n    facility: authpirv\n",
			`accessbot.yaml:12: audit_sinks[0].facility: unknown facility "authpirv"`},
		{"facility 24", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:514\n    facility: 24\n",
			`accessbot.yaml:12: audit_sinks[0].facility: unknown facility "24"`},
		{"a hostname with a space", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:514\n    hostname: my host\n",
			`accessbot.yaml:12: audit_sinks[0].hostname: must be printable ASCII without spaces`},
		{"a message size below any event", "audit_sinks:\n  - name: s\n    type: syslog\n    address: h:514\n    max_message_size: 480\n",
			`accessbot.yaml:12: audit_sinks[0].max_message_size: must be between 1KB and 1MB, got 480 bytes`},
		{"a file sink without a path", "audit_sinks:\n  - name: f\n    type: file\n",
			`accessbot.yaml:9: audit_sinks[0].path: required`},
		{"a directory for a path", "audit_sinks:\n  - name: f\n    type: file\n    path: " + dir + "\n",
			`accessbot.yaml:11: audit_sinks[0].path: "` + dir + `" is a directory`},
		{"a size that is not a size", "audit_sinks:\n  - name: f\n    type: file\n    path: x\n    max_size: 10XB\n",
			`accessbot.yaml:12: audit_sinks[0].max_size: "10XB": not a size (write 100MB, 1GB or a number of bytes)`},
		{"a tiny size", "audit_sinks:\n  - name: f\n    type: file\n    path: x\n    max_size: 10\n",
			`accessbot.yaml:12: audit_sinks[0].max_size: must be at least 1KB`},
		{"no rotated files", "audit_sinks:\n  - name: f\n    type: file\n    path: x\n    max_files: 0\n",
			`accessbot.yaml:12: audit_sinks[0].max_files: must be between 1 and 1000, got 0`},
		{"a list expected", "audit_sinks:\n  name: f\n",
			`accessbot.yaml:9: audit_sinks: expected a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(valid+tt.src), envOf(sinkEnv))
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.src)
			}
			probs := problemsOf(t, err)
			found := false
			for _, p := range probs {
				if strings.HasPrefix(p, tt.want) {
					found = true
				}
				if strings.Contains(p, "s3cr3t") {
					t.Errorf("a message shows the URL's token: %s", p)
				}
			}
			if !found {
				t.Errorf("problems:\n%s\nwant one starting with:\n%s", strings.Join(probs, "\n"), tt.want)
			}
		})
	}
}

// The commented audit_sinks section of the example, uncommented, is a valid config (with its
// certificate files made up).
func TestTheExampleAuditSinksValidate(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "# audit_sinks:")
	if i < 0 {
		t.Fatal("config.example.yaml has no commented audit_sinks section")
	}
	var section []string
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		section = append(section, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
	}
	// The example names files under /etc/accessbot; make them here.
	dir := t.TempDir()
	cert := selfSigned(t, dir)
	src := strings.Join(section, "\n")
	src = regexp.MustCompile(`/etc/accessbot/[a-z-]+\.pem`).ReplaceAllStringFunc(src, func(p string) string {
		return cert[filepath.Base(p)]
	})
	c := mustParse(t, valid+src+"\n", sinkEnv)
	types := map[string]bool{}
	for _, s := range c.AuditSinks {
		types[s.Type] = true
	}
	if len(types) != 4 {
		t.Errorf("the example shows sink types %v, want all four", types)
	}
}

// selfSigned writes a self-signed certificate and its key, under the names the example uses.
func selfSigned(t *testing.T, dir string) map[string]string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "accessbot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	out := map[string]string{}
	for name, data := range map[string][]byte{"siem-ca.pem": certPEM, "client.pem": certPEM, "client-key.pem": keyPEM} {
		out[name] = filepath.Join(dir, name)
		if err := os.WriteFile(out[name], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
