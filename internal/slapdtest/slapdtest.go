// Package slapdtest starts throwaway OpenLDAP servers for tests, from the binaries a Debian slapd
// package installs: a cn=config made with slapadd -n0 from a generated LDIF (the mdb backend; the
// core, cosine, nis and inetorgperson schemas from /etc/ldap/schema), the suffix dc=example,dc=org
// with a root DN and a random password, ou=people, ou=groups and ou=services under it, data in a
// temporary directory, and ldap://127.0.0.1 on a free port. Nothing is shared with a system slapd.
// Servers stop at the end of their test or package, and with the test binary if it dies.
//
// One server per package is the usual shape:
//
//	func TestMain(m *testing.M) { slapdtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := slapdtest.Shared(t)
//		alice := srv.AddPerson(t, "alice", "pw")
//		...
//	}
//
// The config database has its own root DN (cn=config), so tests can change access rules at run
// time (SetAccess). StartWith(t, Options{TLS: true}) also serves ldaps:// on a second port and
// StartTLS on the first, with certificates from a CA made for the server. When the binaries are missing the test skips with a message saying how to
// install them, or fails when the environment variable CI is "true". As root, slapadd and slapd run
// as the system user openldap; without that user they run as root, which slapd accepts.
package slapdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/accessbot/accessbot/internal/servertest"
	"github.com/accessbot/accessbot/internal/tlstest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// InstallHint says how to get the binaries.
const InstallHint = "install slapd: apt-get install slapd ldap-utils"

// Names every server is made with.
const (
	Suffix    = "dc=example,dc=org"
	RootDN    = "cn=admin," + Suffix
	ConfigDN  = "cn=config"
	PeopleDN  = "ou=people," + Suffix
	GroupsDN  = "ou=groups," + Suffix
	ServiceDN = "ou=services," + Suffix
	// DataDB is the DN of the suffix's database in cn=config, whose olcAccess SetAccess replaces.
	DataDB = "olcDatabase={1}mdb,cn=config"
)

// DefaultAccess is the data database's access rules at start: passwords are only usable for
// binding, and every bound or anonymous client may read the rest.
var DefaultAccess = []string{
	"to attrs=userPassword by anonymous auth by * none",
	"to * by * read",
}

const schemaDir = "/etc/ldap/schema"

// Options change how a server starts.
type Options struct {
	// TLS adds a certificate for 127.0.0.1 and localhost, signed by a CA of the server's own
	// (Server.TLS): StartTLS works on URL, and LDAPSURL serves TLS from the start.
	TLS bool
}

// TLSFiles are the PEM files of a TLS server.
type TLSFiles = tlstest.Files

// Server is a running throwaway slapd.
type Server struct {
	// URL is ldap://127.0.0.1:<port>.
	URL  string
	Port int
	// LDAPSURL is ldaps://127.0.0.1:<port>, set when the server has TLS.
	LDAPSURL string
	// TLS is set when the server has TLS.
	TLS *TLSFiles
	// Dir holds the config directory, the data directory and the server log.
	Dir string
	// RootPassword is the password of RootDN; ConfigPassword that of ConfigDN.
	RootPassword   string
	ConfigPassword string

	slapd, slapadd string
	runAs          servertest.RunAs
	proc           servertest.Process
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server of its own for t with opts and stops it when t ends.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("slapdtest"), func(dir string) (*Server, error) { return start(dir, opts) })
}

func findBin(name string) (string, error) {
	for _, p := range []string{"/usr/sbin/" + name, "/usr/local/sbin/" + name} {
		if servertest.IsExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", servertest.Unavailable{Msg: "slapdtest: no " + name + " in /usr/sbin or PATH; " + InstallHint}
}

// runAs returns who runs slapadd and slapd: the current user, or as root the user openldap
// when it exists, else root, which slapd accepts: a test server on a loopback port loses
// little by it.
func runAs() (servertest.RunAs, error) {
	r, err := servertest.LookupRunAs("openldap")
	if errors.Is(err, servertest.ErrNoUser) {
		return servertest.RunAs{User: "root"}, nil
	}
	if err != nil {
		return r, fmt.Errorf("slapdtest: %w", err)
	}
	return r, nil
}

func start(dir string, opts Options) (*Server, error) {
	slapd, err := findBin("slapd")
	if err != nil {
		return nil, err
	}
	slapadd, err := findBin("slapadd")
	if err != nil {
		return nil, err
	}
	for _, schema := range []string{"core", "cosine", "nis", "inetorgperson"} {
		if _, err := os.Stat(filepath.Join(schemaDir, schema+".ldif")); err != nil {
			return nil, servertest.Unavailable{Msg: "slapdtest: no " + schema + ".ldif in " + schemaDir + "; " + InstallHint}
		}
	}
	r, err := runAs()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, slapd: slapd, slapadd: slapadd, runAs: r,
		RootPassword: servertest.RandomHex(16), ConfigPassword: servertest.RandomHex(16)}
	s.proc = servertest.Process{
		Label:      "slapdtest",
		Name:       "slapd",
		Output:     s.logPath(),
		StopSignal: syscall.SIGTERM,
		StopGrace:  15 * time.Second,
	}
	if err := s.runAs.HandOver(dir, "TMPDIR"); err != nil {
		return nil, fmt.Errorf("slapdtest: %w", err)
	}
	if opts.TLS {
		if s.TLS, err = tlstest.Write(dir, "slapdtest"); err != nil {
			return nil, err
		}
		for _, f := range []string{s.TLS.CAFile, s.TLS.ServerCertFile, s.TLS.ServerKeyFile} {
			if err := s.chown(f); err != nil {
				return nil, err
			}
		}
	}
	for _, d := range []string{s.configDir(), s.dataDir()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("slapdtest: %w", err)
		}
		if err := s.chown(d); err != nil {
			return nil, err
		}
	}
	if err := s.load(0, "config.ldif", s.configLDIF()); err != nil {
		return nil, err
	}
	if err := s.load(1, "base.ldif", baseLDIF); err != nil {
		return nil, err
	}
	err = servertest.OnFreePort(func(port int) error {
		s.Port = port
		s.URL = "ldap://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.TLS != nil {
			ldapsPort, err := servertest.FreePort()
			if err != nil {
				return err
			}
			s.LDAPSURL = "ldaps://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ldapsPort))
		}
		return s.run()
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) chown(p string) error {
	if err := s.runAs.Chown(p); err != nil {
		return fmt.Errorf("slapdtest: %w", err)
	}
	return nil
}

func (s *Server) configDir() string { return filepath.Join(s.Dir, "slapd.d") }
func (s *Server) dataDir() string   { return filepath.Join(s.Dir, "data") }
func (s *Server) logPath() string   { return filepath.Join(s.Dir, "slapd.log") }

// configLDIF is cn=config. The passwords are random hex and the paths are made by os.MkdirTemp,
// so nothing needs LDIF escaping.
func (s *Server) configLDIF() string {
	var b strings.Builder
	b.WriteString("dn: cn=config\nobjectClass: olcGlobal\ncn: config\n")
	fmt.Fprintf(&b, "olcPidFile: %s\nolcArgsFile: %s\n", filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"))
	if s.TLS != nil {
		fmt.Fprintf(&b, "olcTLSCACertificateFile: %s\nolcTLSCertificateFile: %s\nolcTLSCertificateKeyFile: %s\n",
			s.TLS.CAFile, s.TLS.ServerCertFile, s.TLS.ServerKeyFile)
	}
	b.WriteString("\n")
	b.WriteString("dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n")
	b.WriteString("olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n")
	b.WriteString("dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n")
	for _, schema := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&b, "include: file://%s\n\n", filepath.Join(schemaDir, schema+".ldif"))
	}
	b.WriteString("dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n")
	fmt.Fprintf(&b, "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\nolcDatabase: {0}config\nolcRootDN: %s\nolcRootPW: %s\n\n", ConfigDN, s.ConfigPassword)
	b.WriteString("dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\nobjectClass: olcMdbConfig\nolcDatabase: {1}mdb\n")
	fmt.Fprintf(&b, "olcDbDirectory: %s\nolcSuffix: %s\nolcRootDN: %s\nolcRootPW: %s\n", s.dataDir(), Suffix, RootDN, s.RootPassword)
	// A throwaway directory needs no durability.
	b.WriteString("olcDbNoSync: TRUE\nolcDbIndex: objectClass eq\nolcDbIndex: uid,cn,member,uniqueMember,memberUid eq\n")
	for i, rule := range DefaultAccess {
		fmt.Fprintf(&b, "olcAccess: {%d}%s\n", i, rule)
	}
	return b.String()
}

const baseLDIF = `dn: ` + Suffix + `
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ` + PeopleDN + `
objectClass: organizationalUnit
ou: people

dn: ` + GroupsDN + `
objectClass: organizationalUnit
ou: groups

dn: ` + ServiceDN + `
objectClass: organizationalUnit
ou: services
`

// load writes ldif to a file and slapadds it into database n (0 is cn=config).
func (s *Server) load(n int, name, ldif string) error {
	path := filepath.Join(s.Dir, name)
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		return fmt.Errorf("slapdtest: write %s: %w", name, err)
	}
	if err := s.chown(path); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.slapadd, "-n", strconv.Itoa(n), "-F", s.configDir(), "-l", path)
	s.prepare(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("slapdtest: slapadd -n%d %s: %w\n%s", n, name, err, out)
	}
	return nil
}

// prepare sets the user (rather than slapd -u/-g), environment and working directory of a
// server command. If the test binary dies without cleaning up, the server goes with it.
func (s *Server) prepare(cmd *exec.Cmd) {
	servertest.Prepare(cmd, s.Dir, s.runAs.Cred, syscall.SIGKILL)
}

// run starts slapd on s.Port in the foreground and waits until the root DN can bind.
func (s *Server) run() error {
	// -d keeps slapd in the foreground; level 0 logs only what stops it from starting.
	listen := s.URL + "/"
	if s.LDAPSURL != "" {
		listen += " " + s.LDAPSURL + "/"
	}
	cmd := exec.Command(s.slapd, "-F", s.configDir(), "-h", listen, "-d", "0")
	s.prepare(cmd)
	bindRoot := func(context.Context) error {
		conn, err := s.bind(RootDN, s.RootPassword)
		if err == nil {
			conn.Close()
		}
		return err
	}
	return s.proc.Run(cmd, 30*time.Second, bindRoot)
}

// Stop shuts the server down (SIGTERM) and waits for it to exit. Stopping a stopped server does
// nothing.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops the server and starts it again on the same directory and port, with its data.
func (s *Server) Restart() error { return s.proc.Restart(s.run) }

// ClientTLS returns a client TLS config that trusts the server's CA, or nil without TLS.
func (s *Server) ClientTLS() *tls.Config { return servertest.ClientTLS(s.TLS) }

// bind dials the server and binds as dn.
func (s *Server) bind(dn, password string) (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(dn, password); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Bind returns a connection bound as dn, closed when t ends, or the bind's error.
func (s *Server) Bind(t testing.TB, dn, password string) (*ldap.Conn, error) {
	t.Helper()
	conn, err := s.bind(dn, password)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

// Admin returns a connection bound as RootDN, closed when t ends.
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := s.Bind(t, RootDN, s.RootPassword)
	if err != nil {
		t.Fatalf("slapdtest: bind as %s: %v", RootDN, err)
	}
	return conn
}

// AddEntry adds an entry as RootDN and deletes it when t ends.
func (s *Server) AddEntry(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	req := ldap.NewAddRequest(dn, nil)
	for name, values := range attrs {
		req.Attribute(name, values)
	}
	if err := s.Admin(t).Add(req); err != nil {
		t.Fatalf("slapdtest: add %s: %v", dn, err)
	}
	t.Cleanup(func() {
		if !s.proc.Running() {
			return
		}
		conn, err := s.bind(RootDN, s.RootPassword)
		if err != nil {
			t.Logf("slapdtest: delete %s: %v", dn, err)
			return
		}
		defer conn.Close()
		if err := conn.Del(ldap.NewDelRequest(dn, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			t.Logf("slapdtest: delete %s: %v", dn, err)
		}
	})
}

// PersonDN returns the DN of the person with uid under PeopleDN.
func PersonDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + PeopleDN }

// AddPerson adds an inetOrgPerson with uid and password under PeopleDN, deleted when t ends, and
// returns its DN.
func (s *Server) AddPerson(t testing.TB, uid, password string) string {
	t.Helper()
	dn := PersonDN(uid)
	attrs := map[string][]string{
		"objectClass": {"inetOrgPerson"},
		"uid":         {uid},
		"cn":          {uid},
		"sn":          {uid},
		"mail":        {uid + "@example.com"},
	}
	if password != "" {
		attrs["userPassword"] = []string{password}
	}
	s.AddEntry(t, dn, attrs)
	return dn
}

// AddService adds a service account (an applicationProcess with a password) under ServiceDN,
// deleted when t ends, and returns its DN. Bots bind as one.
func (s *Server) AddService(t testing.TB, cn, password string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + ServiceDN
	s.AddEntry(t, dn, map[string][]string{
		"objectClass":  {"applicationProcess", "simpleSecurityObject"},
		"cn":           {cn},
		"userPassword": {password},
	})
	return dn
}

// AddGroup adds a group under GroupsDN, deleted when t ends, and returns its DN. objectClass is
// groupOfNames (member), groupOfUniqueNames (uniqueMember) or posixGroup (memberUid, and a
// gidNumber is made up); members are the values of that attribute.
func (s *Server) AddGroup(t testing.TB, cn, objectClass string, members ...string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + GroupsDN
	attrs := map[string][]string{"objectClass": {objectClass}, "cn": {cn}}
	switch strings.ToLower(objectClass) {
	case "groupofnames":
		attrs["member"] = members
	case "groupofuniquenames":
		attrs["uniqueMember"] = members
	case "posixgroup":
		attrs["gidNumber"] = []string{strconv.Itoa(10000 + int(time.Now().UnixNano()%50000))}
		if len(members) > 0 {
			attrs["memberUid"] = members
		}
	default:
		t.Fatalf("slapdtest: AddGroup does not know object class %q", objectClass)
	}
	s.AddEntry(t, dn, attrs)
	return dn
}

// Members returns the values of attr on the entry dn, read as RootDN.
func (s *Server) Members(t testing.TB, dn, attr string) []string {
	t.Helper()
	res, err := s.Admin(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 10, false, "(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatalf("slapdtest: read %s of %s: %v", attr, dn, err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("slapdtest: read %s: %d entries", dn, len(res.Entries))
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// SetAccess replaces the data database's access rules (olcAccess values without their {n}
// prefix) and restores DefaultAccess when t ends.
func (s *Server) SetAccess(t testing.TB, rules ...string) {
	t.Helper()
	if err := s.setAccess(rules); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.proc.Running() {
			return
		}
		if err := s.setAccess(DefaultAccess); err != nil {
			t.Logf("slapdtest: restore access rules: %v", err)
		}
	})
}

func (s *Server) setAccess(rules []string) error {
	conn, err := s.bind(ConfigDN, s.ConfigPassword)
	if err != nil {
		return fmt.Errorf("slapdtest: bind as %s: %w", ConfigDN, err)
	}
	defer conn.Close()
	values := make([]string, len(rules))
	for i, r := range rules {
		values[i] = fmt.Sprintf("{%d}%s", i, r)
	}
	req := ldap.NewModifyRequest(DataDB, nil)
	req.Replace("olcAccess", values)
	if err := conn.Modify(req); err != nil {
		return fmt.Errorf("slapdtest: set olcAccess: %w", err)
	}
	return nil
}

var shared servertest.Shared[*Server]

// Shared returns the package's shared server, started by the first test that asks. Main stops
// it after the last test.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "slapdtest", func(dir string) (*Server, error) { return start(dir, Options{}) })
}

// Main runs a package's tests and then stops the shared server, if one started. Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }
