package ldap

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/tmpl"
)

const (
	defaultTimeout     = 10 * time.Second
	defaultDialTimeout = 5 * time.Second
)

// The member attributes the adapter knows, by their lower-case names.
const (
	attrMember       = "member"
	attrUniqueMember = "uniqueMember"
	attrMemberUID    = "memberUid"
)

var memberAttributes = map[string]string{
	"member":       attrMember,
	"uniquemember": attrUniqueMember,
	"memberuid":    attrMemberUID,
}

// Password is a secret from the config. It prints as "[redacted]" with every fmt verb and in
// JSON, so a config dumped into a log line or an error keeps it secret.
type Password string

func (Password) String() string   { return "[redacted]" }
func (Password) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the password.
func (Password) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// SearchConfig finds a person's DN with a search.
type SearchConfig struct {
	// Base is the DN the search starts at.
	Base string `yaml:"base"`
	// Filter is a template such as "(&(objectClass=inetOrgPerson)(uid={{.Account}}))". The values
	// put in are escaped for filters (RFC 4515), so a value cannot change the filter's shape.
	Filter string `yaml:"filter"`
	// Scope is "sub" (the default) or "one".
	Scope string `yaml:"scope"`
}

// TLSConfig tunes TLS for ldaps:// and start_tls.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs to trust; the system pool when empty.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the server's certificate must carry; the URL's host when empty.
	ServerName string `yaml:"server_name"`
	// CertFile and KeyFile are a client certificate and key, for servers that ask for one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Config is the ldap adapter's configuration block.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool `yaml:"start_tls"`
	// AllowPlaintext permits ldap:// without start_tls to a host that is not the loopback, which
	// sends the bind password in the clear.
	AllowPlaintext bool      `yaml:"allow_plaintext"`
	TLS            TLSConfig `yaml:"tls"`
	// BindDN and BindPassword are the bot's own account.
	BindDN       string   `yaml:"bind_dn"`
	BindPassword Password `yaml:"bind_password"`
	// GroupDN is the group that grants add people to.
	GroupDN string `yaml:"group_dn"`
	// MemberAttribute is member (groupOfNames, the default), uniqueMember (groupOfUniqueNames)
	// or memberUid (posixGroup, whose values are account names rather than DNs).
	MemberAttribute string `yaml:"member_attribute"`
	// UserDN is a template of a person's DN, such as "uid={{.Account}},ou=people,dc=example,dc=org".
	// The values put in ({{.Account}}, {{.Email}}, {{.ID}}) are escaped for DNs (RFC 4514).
	UserDN string `yaml:"user_dn"`
	// UserSearch finds a person's DN with a search instead of a template.
	UserSearch *SearchConfig `yaml:"user_search"`
	// PlaceholderMember is a DN (or, with memberUid, a name) that the adapter adds when removing
	// the last member would leave a group that its schema requires to have one (groupOfNames,
	// groupOfUniqueNames). Without it, such a revoke fails with a permanent error.
	PlaceholderMember string `yaml:"placeholder_member"`
	// DialTimeout bounds connecting; Timeout bounds each Grant, Revoke, List and Check as a whole.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Timeout     time.Duration `yaml:"timeout"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{MemberAttribute: attrMember, DialTimeout: defaultDialTimeout, Timeout: defaultTimeout}
}

// String describes the config without the password.
func (c Config) String() string {
	return fmt.Sprintf("ldap{url=%s start_tls=%t bind_dn=%s group_dn=%s member_attribute=%s user_dn=%s user_search=%t timeout=%s}",
		c.URL, c.StartTLS, c.BindDN, c.GroupDN, c.MemberAttribute, c.UserDN, c.UserSearch != nil, c.Timeout)
}

// GoString is String, so %#v cannot print the password either.
func (c Config) GoString() string { return c.String() }

// Validate checks the values without contacting the server.
// ResolvePaths makes the TLS files relative to the config file's directory.
func (c *Config) ResolvePaths(dir string) {
	for _, f := range []*string{&c.TLS.CAFile, &c.TLS.CertFile, &c.TLS.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}

func (c *Config) Validate() error {
	u, err := c.parseURL()
	if err != nil {
		return err
	}
	if c.StartTLS && u.Scheme == "ldaps" {
		return errors.New("start_tls is for ldap:// URLs; ldaps:// is TLS from the start")
	}
	if u.Scheme == "ldap" && !c.StartTLS && !c.AllowPlaintext && !isLoopback(u.Hostname()) {
		return errors.New("url: ldap:// without start_tls sends the bind password in the clear; use ldaps://, start_tls: true, or allow_plaintext: true")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	if c.BindDN == "" {
		return errors.New("bind_dn is required")
	}
	if _, err := goldap.ParseDN(c.BindDN); err != nil {
		return fmt.Errorf("bind_dn is not a DN: %v", err)
	}
	if c.BindPassword == "" {
		return errors.New("bind_password is required")
	}
	if c.GroupDN == "" {
		return errors.New("group_dn is required")
	}
	if _, err := goldap.ParseDN(c.GroupDN); err != nil {
		return fmt.Errorf("group_dn is not a DN: %v", err)
	}
	attr, ok := memberAttributes[strings.ToLower(c.MemberAttribute)]
	if !ok {
		return fmt.Errorf("member_attribute must be member, uniqueMember or memberUid, got %q", c.MemberAttribute)
	}
	if attr == attrMemberUID {
		if c.UserDN != "" || c.UserSearch != nil {
			return errors.New("memberUid holds account names, not DNs: user_dn and user_search do not apply")
		}
		if c.PlaceholderMember != "" && !accountPattern.MatchString(c.PlaceholderMember) {
			return errors.New("placeholder_member must be an account name with memberUid")
		}
	} else {
		if (c.UserDN == "") == (c.UserSearch == nil) {
			return fmt.Errorf("%s holds DNs: set exactly one of user_dn (a template) and user_search", attr)
		}
		if c.UserDN != "" {
			if _, err := newDNTemplate(c.UserDN); err != nil {
				return fmt.Errorf("user_dn: %w", err)
			}
		}
		if c.UserSearch != nil {
			if err := c.UserSearch.validate(); err != nil {
				return fmt.Errorf("user_search: %w", err)
			}
		}
		if c.PlaceholderMember != "" {
			if _, err := goldap.ParseDN(c.PlaceholderMember); err != nil {
				return fmt.Errorf("placeholder_member is not a DN: %v", err)
			}
		}
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("dial_timeout must be positive, got %s", c.DialTimeout)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	}
	return nil
}

func (c *Config) parseURL() (*url.URL, error) {
	if c.URL == "" {
		return nil, errors.New("url is required (ldap://host or ldaps://host)")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, errors.New("url is not a valid URL")
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return nil, fmt.Errorf("url scheme must be ldap or ldaps, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("url has no host")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("url must be scheme://host[:port] only; the bind DN and password have keys of their own")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostPort returns the address to dial, with the scheme's default port.
func (c *Config) hostPort() string {
	u, _ := url.Parse(c.URL)
	port := u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	u, _ := url.Parse(c.URL)
	if u.Scheme != "ldaps" && !c.StartTLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if c.TLS.ServerName != "" {
		cfg.ServerName = c.TLS.ServerName
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s holds no PEM certificate", c.TLS.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load cert_file and key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s *SearchConfig) validate() error {
	if s.Base == "" {
		return errors.New("base is required")
	}
	if _, err := goldap.ParseDN(s.Base); err != nil {
		return fmt.Errorf("base is not a DN: %v", err)
	}
	if _, err := newFilterTemplate(s.Filter); err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	if _, err := s.scope(); err != nil {
		return err
	}
	return nil
}

func (s *SearchConfig) scope() (int, error) {
	switch s.Scope {
	case "", "sub":
		return goldap.ScopeWholeSubtree, nil
	case "one":
		return goldap.ScopeSingleLevel, nil
	}
	return 0, fmt.Errorf("scope must be sub or one, got %q", s.Scope)
}

// accountPattern is what an account may be. It leaves out every character with a meaning in DNs
// (, + " \ < > ; = #) or filters (( ) * \ NUL) and spaces, so escaping is a second line of
// defence rather than the only one.
var accountPattern = ident.New(`^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$`, `^[A-Za-z0-9_][A-Za-z0-9_.@-]*$`, 1, 128)

// templateValues are what a user_dn or filter template may use, already escaped.
type templateValues struct {
	Account string
	Email   string
	ID      string
}

// valueTemplate renders a template whose values are escaped by escape.
type valueTemplate struct {
	tmpl   *tmpl.Template
	escape func(string) string
}

func parseTemplate(kind, text string, escape func(string) string) (*valueTemplate, error) {
	if text == "" {
		return nil, errors.New("is empty")
	}
	t, err := tmpl.Parse(kind, text, tmpl.Options{MissingKeyError: true})
	if err != nil {
		return nil, err
	}
	return &valueTemplate{tmpl: t, escape: escape}, nil
}

func (t *valueTemplate) render(s adapters.Subject) (string, error) {
	var b bytes.Buffer
	err := t.tmpl.Execute(&b, templateValues{Account: t.escape(s.Account), Email: t.escape(s.Email), ID: t.escape(s.ID)})
	if err != nil {
		return "", err
	}
	return b.String(), nil
}

// sampleSubjects render a template twice to prove it depends on the person: a template without
// {{.Account}} (or .Email, .ID) would put everyone in the group under one DN.
var sampleSubjects = [2]adapters.Subject{
	{ID: "sample1@example.com", Email: "sample1@example.com", Account: "sample1"},
	{ID: "sample2@example.com", Email: "sample2@example.com", Account: "sample2"},
}

// dnTemplate renders a person's DN, and remembers where the account sits in it, so that List can
// read accounts back out of member DNs.
type dnTemplate struct {
	*valueTemplate
	// shape is the DN rendered for a sample person; accountRDN is the index of the RDN that
	// carries the account, or -1.
	shape      *goldap.DN
	accountRDN int
	accountTyp string
}

func newDNTemplate(text string) (*dnTemplate, error) {
	vt, err := parseTemplate("user_dn", text, goldap.EscapeDN)
	if err != nil {
		return nil, err
	}
	var rendered [2]string
	for i, s := range sampleSubjects {
		if rendered[i], err = vt.render(s); err != nil {
			return nil, err
		}
	}
	if rendered[0] == rendered[1] {
		return nil, errors.New("renders the same DN for everyone; use {{.Account}}, {{.Email}} or {{.ID}}")
	}
	shape, err := goldap.ParseDN(rendered[0])
	if err != nil {
		return nil, fmt.Errorf("does not render a DN: %v", err)
	}
	t := &dnTemplate{valueTemplate: vt, shape: shape, accountRDN: -1}
	for i, rdn := range shape.RDNs {
		if len(rdn.Attributes) == 1 && rdn.Attributes[0].Value == sampleSubjects[0].Account {
			t.accountRDN, t.accountTyp = i, rdn.Attributes[0].Type
		}
	}
	return t, nil
}

// dn renders the person's DN and checks that it has the template's shape: the same number of
// RDNs of the same types. Escaping already guarantees it; the check makes a mistake loud.
func (t *dnTemplate) dn(s adapters.Subject) (string, error) {
	text, err := t.render(s)
	if err != nil {
		return "", err
	}
	dn, err := goldap.ParseDN(text)
	if err != nil {
		return "", fmt.Errorf("user_dn renders %q, not a DN: %v", text, err)
	}
	if len(dn.RDNs) != len(t.shape.RDNs) {
		return "", fmt.Errorf("user_dn renders %q, which does not have the template's shape", text)
	}
	for i := range dn.RDNs {
		if len(dn.RDNs[i].Attributes) != len(t.shape.RDNs[i].Attributes) {
			return "", fmt.Errorf("user_dn renders %q, which does not have the template's shape", text)
		}
	}
	return text, nil
}

// account reads the account back out of a member DN of the template's shape.
func (t *dnTemplate) account(member string) (string, bool) {
	if t.accountRDN < 0 {
		return "", false
	}
	dn, err := goldap.ParseDN(member)
	if err != nil || len(dn.RDNs) != len(t.shape.RDNs) {
		return "", false
	}
	rdn := dn.RDNs[t.accountRDN]
	if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, t.accountTyp) {
		return "", false
	}
	return rdn.Attributes[0].Value, true
}

func newFilterTemplate(text string) (*valueTemplate, error) {
	vt, err := parseTemplate("filter", text, goldap.EscapeFilter)
	if err != nil {
		return nil, err
	}
	var rendered [2]string
	for i, s := range sampleSubjects {
		if rendered[i], err = vt.render(s); err != nil {
			return nil, err
		}
		if _, err := goldap.CompileFilter(rendered[i]); err != nil {
			return nil, fmt.Errorf("does not render a filter: %v", err)
		}
	}
	if rendered[0] == rendered[1] {
		return nil, errors.New("renders the same filter for everyone; use {{.Account}}, {{.Email}} or {{.ID}}")
	}
	return vt, nil
}
