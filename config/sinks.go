package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Audit sink types.
const (
	SinkWebhook = "webhook"
	SinkSyslog  = "syslog"
	SinkRELP    = "relp"
	SinkFile    = "file"
)

// Defaults of an audit sink's keys.
const (
	defaultSinkBatch    = 500
	maxSinkBatch        = 10000
	defaultSinkTimeout  = 10 * time.Second
	defaultSinkFacility = 10 // authpriv
	defaultSinkMaxSize  = 100 << 20
	defaultSinkMaxFiles = 5
	maxSinkMaxFiles     = 1000
)

// defaultSinkMaxMessage is what rsyslog keeps of a message by default (its "8k"
// maxMessageSize is 8096 bytes); audit/sink's default too.
const defaultSinkMaxMessage = 8096

// AuditSink is one entry of `audit_sinks:`: somewhere every audit event is forwarded (a SIEM),
// from a cursor stored under its name, at least once. Which keys apply depends on Type; a key
// of another type is an error.
type AuditSink struct {
	// Name names the sink in logs and metrics and its stored cursor ("sink:<name>"). Renaming
	// a sink starts it again from the first event.
	Name string `yaml:"name"`
	// Type is webhook, syslog, relp or file.
	Type string `yaml:"type"`
	// Batch is the most events sent at once; default 500.
	Batch int `yaml:"batch"`

	// URL receives the webhook's POSTs (webhook).
	URL string `yaml:"url"`
	// Secret is the webhook's HMAC-SHA256 key (webhook, required).
	Secret Secret `yaml:"secret"`
	// Timeout bounds one POST, or one syslog connect and write, or one wait for a RELP answer
	// (webhook, syslog, relp); default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Headers are added to every POST (webhook). They may carry credentials; never logged.
	Headers map[string]string `yaml:"headers"`

	// Address is the syslog server's host:port (syslog and relp, required). The keys below
	// through Hostname apply to relp as to syslog.
	Address string `yaml:"address"`
	// TLS turns TLS on (syslog); CAFile, ServerName, CertFile and KeyFile need it.
	TLS bool `yaml:"tls"`
	// CAFile is a PEM file of the CAs that may sign the server's certificate; default the
	// system's roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the server's certificate must hold; default the host of Address.
	ServerName string `yaml:"server_name"`
	// CertFile and KeyFile are a PEM client certificate and its key, for servers that ask.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Facility is a syslog facility name (auth, authpriv, local0...) or number 0-23; default
	// authpriv.
	Facility string `yaml:"facility"`
	// Hostname is the syslog HOSTNAME field; default the machine's name.
	Hostname string `yaml:"hostname"`
	// MaxMessageSize is the longest syslog message the server keeps whole (syslog): bytes or
	// 8KB, 1KB to 1MB; default 8096, what rsyslog keeps by default. A longer event is sent with its long
	// data values cut and marked truncated="true" with its seq and hash.
	MaxMessageSize ByteSize `yaml:"max_message_size"`

	// Path is the JSON Lines file events are appended to (file, required).
	Path string `yaml:"path"`
	// MaxSize is the size past which the file is rotated (file): bytes, or 100MB, 1GB (powers
	// of 1024); default 100MB.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxFiles is how many rotated files are kept (file): path.1 the newest; default 5.
	MaxFiles int `yaml:"max_files"`

	facility int
}

// FacilityCode is Facility as a number, after validation.
func (s *AuditSink) FacilityCode() int { return s.facility }

// ByteSize is a size in bytes, written as a number of bytes or with a unit: 512KB, 100MB, 1GB
// (powers of 1024; KiB, MiB and GiB are accepted too).
type ByteSize int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if err != nil || !ok || n > (1<<62)/unit {
		return errors.New("not a size (write 100MB, 1GB or a number of bytes)")
	}
	*b = ByteSize(n * unit)
	return nil
}

// syslogFacilities are the RFC 5424 facility names.
var syslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
	"local5": 21, "local6": 22, "local7": 23,
}

// sinkKeys are the keys of each sink type, besides name, type and batch.
var sinkKeys = map[string][]string{
	SinkWebhook: {"url", "secret", "timeout", "headers"},
	SinkSyslog:  {"address", "timeout", "tls", "ca_file", "server_name", "cert_file", "key_file", "facility", "hostname", "max_message_size"},
	SinkRELP:    {"address", "timeout", "tls", "ca_file", "server_name", "cert_file", "key_file", "facility", "hostname", "max_message_size"},
	SinkFile:    {"path", "max_size", "max_files"},
}

// reservedSinkHeaders are set by the webhook sink itself.
var reservedSinkHeaders = []string{"Content-Type", "Content-Length", "Host", "X-Accessbot-Timestamp",
	"X-Accessbot-Signature", "X-Accessbot-Batch"}

func (v *validator) sinks() {
	types := []string{SinkWebhook, SinkSyslog, SinkRELP, SinkFile}
	firstLine := map[string]int{}
	for i := range v.c.AuditSinks {
		s := &v.c.AuditSinks[i]
		path := joinIndex("audit_sinks", i)
		set := func(key string) bool { _, ok := v.d.lines[path+"."+key]; return ok }
		switch {
		case s.Name == "":
			v.add(path+".name", "required: the sink's name, e.g. splunk (its cursor is stored under it)")
		case !resourceName.MatchString(s.Name):
			v.add(path+".name", "%s is not a valid name (lowercase letters, digits, - _ and ., starting with a letter or digit, at most 63)", v.quote(path+".name", s.Name))
		default:
			if line, dup := firstLine[s.Name]; dup {
				v.add(path+".name", "duplicate sink name %s (first at line %d)", v.quote(path+".name", s.Name), line)
			} else {
				firstLine[s.Name] = v.d.lineOf(path + ".name")
			}
		}
		own, ok := sinkKeys[s.Type]
		if !ok {
			msg := fmt.Sprintf("unknown sink type %s (use webhook, syslog, relp or file)", v.quote(path+".type", s.Type))
			if s.Type == "" {
				msg = "required: the sink type (webhook, syslog, relp or file)"
			} else if c := closest(s.Type, types); c != "" {
				msg = fmt.Sprintf("unknown sink type %s (did you mean %q?)", v.quote(path+".type", s.Type), c)
			}
			v.add(path+".type", "%s", msg)
			continue
		}
		for _, t := range types {
			for _, key := range sinkKeys[t] {
				if !slices.Contains(own, key) && set(key) {
					v.add(path+"."+key, "is not a key of a %s sink (its keys: name, type, batch, %s)", s.Type, strings.Join(own, ", "))
				}
			}
		}
		if !set("batch") {
			s.Batch = defaultSinkBatch
		} else if s.Batch < 1 || s.Batch > maxSinkBatch {
			v.add(path+".batch", "must be between 1 and %d, got %d", maxSinkBatch, s.Batch)
		}
		if !set("timeout") {
			s.Timeout = defaultSinkTimeout
		}
		switch s.Type {
		case SinkWebhook:
			v.webhookSink(path, s)
		case SinkSyslog, SinkRELP:
			v.syslogSink(path, s, set)
		case SinkFile:
			v.fileSink(path, s, set)
		}
	}
}

func (v *validator) webhookSink(path string, s *AuditSink) {
	// Messages never show the URL: its query may hold a token.
	if s.URL == "" {
		v.add(path+".url", "required: the receiver's http:// or https:// URL")
	} else if u, err := url.Parse(s.URL); err != nil {
		v.add(path+".url", "not a valid URL")
	} else if u.Scheme != "http" && u.Scheme != "https" {
		v.add(path+".url", "scheme must be http or https, got %q", u.Scheme)
	} else if u.Host == "" {
		v.add(path+".url", "no host")
	}
	if s.Secret == "" {
		v.add(path+".secret", "required: the HMAC key shared with the receiver, e.g. \"${SIEM_WEBHOOK_SECRET}\"")
	}
	v.positive(path+".timeout", s.Timeout)
	names := make([]string, 0, len(s.Headers))
	for k := range s.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		kp := joinKey(path+".headers", k)
		switch {
		case !headerToken(k):
			v.add(kp, "%q is not a valid header name", k)
		case slices.Contains(reservedSinkHeaders, http.CanonicalHeaderKey(k)):
			v.add(kp, "%s is set by accessbot and cannot be configured", http.CanonicalHeaderKey(k))
		case strings.ContainsAny(s.Headers[k], "\r\n\x00"):
			// The value may be a credential: not quoted.
			v.add(kp, "the value contains a line break or NUL")
		}
	}
}

func headerToken(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func (v *validator) syslogSink(path string, s *AuditSink, set func(string) bool) {
	if s.Address == "" {
		v.add(path+".address", "required: the syslog server's host:port, e.g. syslog.example.com:6514")
	} else if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" {
		v.add(path+".address", "%s is not host:port", v.quote(path+".address", s.Address))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(path+".address", "%s has no valid port number", v.quote(path+".address", s.Address))
	}
	v.positive(path+".timeout", s.Timeout)
	if !s.TLS {
		for _, key := range []string{"ca_file", "server_name", "cert_file", "key_file"} {
			if set(key) {
				v.add(path+"."+key, "needs tls: true")
			}
		}
	} else {
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			switch {
			case err != nil:
				v.add(path+".ca_file", "cannot read it: %v", err)
			case !x509.NewCertPool().AppendCertsFromPEM(pem):
				v.add(path+".ca_file", "holds no PEM certificate")
			}
		}
		switch {
		case s.CertFile != "" && s.KeyFile == "":
			v.add(path+".key_file", "required with cert_file: the client certificate's private key")
		case s.CertFile == "" && s.KeyFile != "":
			v.add(path+".cert_file", "required with key_file: the client certificate")
		case s.CertFile != "":
			if _, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile); err != nil {
				v.add(path+".cert_file", "cannot load the client certificate and key: %v", err)
			}
		}
	}
	s.facility = defaultSinkFacility
	if s.Facility != "" {
		if n, ok := syslogFacilities[strings.ToLower(s.Facility)]; ok {
			s.facility = n
		} else if n, err := strconv.Atoi(s.Facility); err == nil && n >= 0 && n <= 23 {
			s.facility = n
		} else {
			v.add(path+".facility", "unknown facility %s (use a name such as auth, authpriv or local0, or a number 0-23)", v.quote(path+".facility", s.Facility))
		}
	}
	if len(s.Hostname) > 255 || strings.IndexFunc(s.Hostname, func(r rune) bool { return r < 33 || r > 126 }) >= 0 {
		v.add(path+".hostname", "must be printable ASCII without spaces, at most 255 characters")
	}
	if !set("max_message_size") {
		s.MaxMessageSize = defaultSinkMaxMessage
	} else if s.MaxMessageSize < 1<<10 || s.MaxMessageSize > 1<<20 {
		v.add(path+".max_message_size", "must be between 1KB and 1MB, got %d bytes", s.MaxMessageSize)
	}
}

func (v *validator) fileSink(path string, s *AuditSink, set func(string) bool) {
	if s.Path == "" {
		v.add(path+".path", "required: the file events are appended to, e.g. /var/log/accessbot/audit.jsonl")
	} else if fi, err := os.Stat(s.Path); strings.HasSuffix(s.Path, "/") || (err == nil && fi.IsDir()) {
		v.add(path+".path", "%s is a directory; name the file", v.quote(path+".path", s.Path))
	}
	if !set("max_size") {
		s.MaxSize = defaultSinkMaxSize
	} else if s.MaxSize < 1<<10 {
		v.add(path+".max_size", "must be at least 1KB, got %d bytes", s.MaxSize)
	}
	if !set("max_files") {
		s.MaxFiles = defaultSinkMaxFiles
	} else if s.MaxFiles < 1 || s.MaxFiles > maxSinkMaxFiles {
		v.add(path+".max_files", "must be between 1 and %d, got %d", maxSinkMaxFiles, s.MaxFiles)
	}
}
