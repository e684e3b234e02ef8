// Package sshdtest starts throwaway OpenSSH servers for tests, from the binaries Debian's
// openssh-server and openssh-client install, and drives the real ssh client against them.
//
// A server listens on a free port on 127.0.0.1 with its own host key, configuration, pid file
// and log in a temporary directory. It trusts user certificates signed by a CA that the harness
// generates (TrustedUserCAKeys) and reads a revocation list (RevokedKeys) that starts empty;
// public keys alone never log in (AuthorizedKeysFile none), nor do passwords. Without an
// AuthorizedPrincipalsFile, sshd accepts a certificate for a user when the user name is one of
// its principals, so a test logs in as the local users User ("abtest") and OtherUser
// ("abtest2"), which the harness creates when missing.
//
// One server per package is the usual shape:
//
//	func TestMain(m *testing.M) { sshdtest.Main(m) }
//
//	func TestLogin(t *testing.T) {
//		srv := sshdtest.Shared(t)
//		key := sshdtest.NewUserKey(t)
//		ok := srv.CanLogin(t, srv.User, key, certLine)
//		...
//	}
//
// sshd must run as root to switch to the user who logs in; when not root, or when the binaries
// are missing, the test skips with a message saying what is needed, or fails when the
// environment variable CI is "true".
package sshdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/servertest"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// InstallHint says how to get the binaries.
const InstallHint = "install OpenSSH: apt-get install openssh-server openssh-client"

// Users the harness logs in as. They are created when missing, with /bin/sh as shell and a
// password field of "*": no password works, but the account is not locked (sshd with UsePAM no
// refuses every method for a locked account).
const (
	DefaultUser  = "abtest"
	DefaultOther = "abtest2"
)

// ErrRefused is returned by Login when the server refused the login: the client said
// "Permission denied". Any other failure (no connection, a timeout) is a different error, so a
// test that expects a refusal does not pass because the server is down.
var ErrRefused = errors.New("sshdtest: login refused")

// Server is a running throwaway sshd.
type Server struct {
	Port int
	// Addr is 127.0.0.1:Port.
	Addr string
	// Dir holds the config, host key, CA files, revocation list, pid file and log.
	Dir string

	// CAKeyPEM is the CA's private key in OpenSSH PEM form, and CAKeyPath a file (mode 0600)
	// holding it: what the adapter under test signs with.
	CAKeyPEM  []byte
	CAKeyPath string
	// CASigner signs with the CA key, for tests that make certificates themselves.
	CASigner ssh.Signer
	// TrustedCAKeysPath is the TrustedUserCAKeys file; TrustCA adds keys to it.
	TrustedCAKeysPath string
	// RevokedKeysPath is the RevokedKeys file sshd reads at every login. It starts empty (which
	// sshd reads as a revoked-keys file listing nothing); the adapter under test rewrites it.
	RevokedKeysPath string

	// User and OtherUser are local users certificates can log in as.
	User      string
	OtherUser string

	hostKey ssh.PublicKey

	sshd, ssh string

	proc  servertest.Process
	certN atomic.Int64
}

// Start starts a server of its own for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("sshdtest"), start)
}

// findBinaries returns the absolute paths of sshd (it re-executes itself, so the path must be
// absolute) and ssh.
func findBinaries() (sshd, client string, err error) {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if servertest.IsExecutable(p) {
			sshd = p
			break
		}
	}
	if sshd == "" {
		if p, err := exec.LookPath("sshd"); err == nil {
			sshd, _ = filepath.Abs(p)
		}
	}
	client, _ = exec.LookPath("ssh")
	if sshd == "" || client == "" {
		return "", "", servertest.Unavailable{Msg: "sshdtest: sshd or ssh not found; " + InstallHint}
	}
	return sshd, client, nil
}

func start(dir string) (*Server, error) {
	sshdBin, sshBin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, servertest.Unavailable{Msg: "sshdtest: sshd must run as root to log users in; run the tests as root (as .ci/run does)"}
	}
	for _, name := range []string{DefaultUser, DefaultOther} {
		if err := ensureUser(name); err != nil {
			return nil, err
		}
	}
	// Debian's sshd refuses to start without its privilege separation directory, which the
	// package's service unit would normally create.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: make privilege separation dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	s := &Server{
		Dir:               dir,
		User:              DefaultUser,
		OtherUser:         DefaultOther,
		sshd:              sshdBin,
		ssh:               sshBin,
		CAKeyPath:         filepath.Join(dir, "ca"),
		TrustedCAKeysPath: filepath.Join(dir, "trusted_ca.pub"),
		RevokedKeysPath:   filepath.Join(dir, "revoked_keys"),
		proc: servertest.Process{
			Label:      "sshdtest",
			Name:       "sshd",
			Output:     filepath.Join(dir, "sshd.log"),
			StopSignal: syscall.SIGTERM,
			StopGrace:  10 * time.Second,
		},
	}
	if err := s.writeKeys(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.RevokedKeysPath, nil, 0o644); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	if err := servertest.OnFreePort(s.runOn); err != nil {
		return nil, err
	}
	return s, nil
}

var userName = ident.New(`^[a-z_][a-z0-9_-]{0,31}$`, `^[a-z_][a-z0-9_-]*$`, 1, 32)

// ensureUser creates a local user that can log in with a certificate, when there is none.
func ensureUser(name string) error {
	if !userName.MatchString(name) {
		return fmt.Errorf("sshdtest: %q is not a valid user name", name)
	}
	if _, err := user.Lookup(name); err != nil {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			return servertest.Unavailable{Msg: "sshdtest: no user " + name + " and no useradd to create it (apt-get install passwd)"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, useradd, "--create-home", "--shell", "/bin/sh", "--password", "*", name).CombinedOutput()
		// Another test package may have created it in the meantime.
		if _, lerr := user.Lookup(name); err != nil && lerr != nil {
			return fmt.Errorf("sshdtest: useradd %s: %w\n%s", name, err, out)
		}
	}
	return unlock(name)
}

// unlock gives a locked account (a password field starting with "!", what useradd makes by
// default) the field "*" instead: still no password, but sshd without PAM lets it log in with
// a key. Only the harness's own users reach here.
func unlock(name string) error {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		// No shadow file: nothing can be locked there.
		return nil
	}
	defer f.Close()
	locked := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) >= 2 && fields[0] == name {
			locked = strings.HasPrefix(fields[1], "!")
		}
	}
	if !locked {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "usermod", "--password", "*", name).CombinedOutput(); err != nil {
		return fmt.Errorf("sshdtest: unlock user %s: %w\n%s", name, err, out)
	}
	return nil
}

// writeKeys makes the host key and the CA.
func (s *Server) writeKeys() error {
	_, host, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("sshdtest: host key: %w", err)
	}
	hostPEM, err := marshalPrivate(host, "sshdtest host")
	if err != nil {
		return err
	}
	// sshd refuses a host key that others can read, even with StrictModes no.
	if err := os.WriteFile(filepath.Join(s.Dir, "host_ed25519"), hostPEM, 0o600); err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	hostSigner, err := ssh.NewSignerFromKey(host)
	if err != nil {
		return fmt.Errorf("sshdtest: host signer: %w", err)
	}
	s.hostKey = hostSigner.PublicKey()
	_, ca, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("sshdtest: CA key: %w", err)
	}
	if s.CAKeyPEM, err = marshalPrivate(ca, "sshdtest CA"); err != nil {
		return err
	}
	if err := os.WriteFile(s.CAKeyPath, s.CAKeyPEM, 0o600); err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	if s.CASigner, err = ssh.NewSignerFromKey(ca); err != nil {
		return fmt.Errorf("sshdtest: CA signer: %w", err)
	}
	if err := os.WriteFile(s.TrustedCAKeysPath, ssh.MarshalAuthorizedKey(s.CASigner.PublicKey()), 0o644); err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	return nil
}

func marshalPrivate(key any, comment string) ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

var trustMu sync.Mutex

// TrustCA adds a CA key to TrustedUserCAKeys. sshd reads the file at every login, so the key
// is trusted from the next login on, until the server stops.
func (s *Server) TrustCA(key ssh.PublicKey) error {
	trustMu.Lock()
	defer trustMu.Unlock()
	f, err := os.OpenFile(s.TrustedCAKeysPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("sshdtest: trust CA: %w", err)
	}
	if _, err := f.Write(ssh.MarshalAuthorizedKey(key)); err != nil {
		_ = f.Close()
		return fmt.Errorf("sshdtest: trust CA: %w", err)
	}
	return f.Close()
}

func (s *Server) configPath() string { return filepath.Join(s.Dir, "sshd_config") }

// config is the server's sshd_config: certificates from the CA are the only way in.
func (s *Server) config(extra ...string) string {
	lines := []string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(s.Dir, "host_ed25519"),
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"TrustedUserCAKeys " + s.TrustedCAKeysPath,
		"RevokedKeys " + s.RevokedKeysPath,
		"AuthorizedKeysFile none",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin no",
		"AllowUsers " + s.User + " " + s.OtherUser,
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"LogLevel VERBOSE",
		// Tests log in many times in a row and in parallel; the default drops connections
		// beyond 10 unauthenticated ones.
		"MaxStartups 100",
		"MaxAuthTries 6",
		"LoginGraceTime 30",
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// runOn starts sshd on port.
func (s *Server) runOn(port int) error {
	s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.run()
}

// run writes the config, starts sshd and waits until it answers with its banner.
func (s *Server) run() error {
	// OpenSSH 9.8 and later penalise a source address after failed logins, which would turn
	// the refusals tests provoke into refused connections; older versions do not know the
	// option, so it is added only when sshd accepts it.
	cfg := s.config("PerSourcePenalties no")
	if err := os.WriteFile(s.configPath(), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, s.sshd, "-t", "-f", s.configPath()).CombinedOutput()
	cancel()
	if err != nil && bytes.Contains(out, []byte("PerSourcePenalties")) {
		cfg = s.config()
		if err := os.WriteFile(s.configPath(), []byte(cfg), 0o644); err != nil {
			return fmt.Errorf("sshdtest: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err = exec.CommandContext(ctx, s.sshd, "-t", "-f", s.configPath()).CombinedOutput()
		cancel()
	}
	if err != nil {
		return fmt.Errorf("sshdtest: sshd -t rejects the config: %w\n%s", err, out)
	}

	cmd := exec.Command(s.sshd, "-D", "-e", "-f", s.configPath())
	// If the test binary dies without cleaning up, the server goes with it.
	servertest.Prepare(cmd, s.Dir, nil, syscall.SIGTERM)
	// sshd's environment stays as it has been: only the system's directories on PATH.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	return s.proc.Run(cmd, 20*time.Second, s.banner)
}

// banner reads sshd's greeting: a server that sends it is ready to accept logins.
func (s *Server) banner(context.Context) error {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("unexpected banner %q", line)
	}
	return nil
}

// LogTail returns the last lines of sshd's log, for failure messages.
func (s *Server) LogTail(lines int) string { return s.proc.LogTail(lines) }

// Stop shuts sshd down and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.proc.Stop() }

// UserKey is a user's key pair, its private half in a file the ssh client can use.
type UserKey struct {
	// Path is the private key file (mode 0600).
	Path   string
	Signer ssh.Signer
}

// PublicKey returns the public key.
func (k *UserKey) PublicKey() ssh.PublicKey { return k.Signer.PublicKey() }

// AuthorizedKey returns the public key as one authorized_keys line, without a newline.
func (k *UserKey) AuthorizedKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Signer.PublicKey())))
}

// NewUserKey makes an ed25519 key pair in a temporary directory of t.
func NewUserKey(t testing.TB) *UserKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("sshdtest: user key: %v", err)
	}
	k, err := WriteUserKey(t.TempDir(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WriteUserKey writes a private key (ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey)
// to dir/id as the ssh client reads it.
func WriteUserKey(dir string, key any) (*UserKey, error) {
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: user key: %w", err)
	}
	data, err := marshalPrivate(key, "sshdtest user")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "id")
	// The ssh client refuses a private key that others can read.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	return &UserKey{Path: path, Signer: signer}, nil
}

// Login runs the real ssh client: it logs in as user with the key and, when certLine (an
// authorized_keys line of a certificate) is not empty, that certificate, and runs `true`. It
// returns nil when the command ran, an error wrapping ErrRefused when the server refused the
// login, and another error for anything else.
func (s *Server) Login(ctx context.Context, user string, key *UserKey, certLine string) error {
	args := []string{
		"-F", "/dev/null",
		"-i", key.Path,
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey",
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
		"-p", strconv.Itoa(s.Port),
	}
	if certLine != "" {
		// Never key.Path+"-cert.pub": the client loads that file by itself, and a login that
		// must go without a certificate would then carry one.
		certPath := filepath.Join(filepath.Dir(key.Path), fmt.Sprintf("cert-%d.pub", s.certN.Add(1)))
		if err := os.WriteFile(certPath, []byte(strings.TrimSpace(certLine)+"\n"), 0o644); err != nil {
			return fmt.Errorf("sshdtest: %w", err)
		}
		defer os.Remove(certPath)
		args = append(args, "-o", "CertificateFile="+certPath)
	}
	args = append(args, user+"@127.0.0.1", "true")
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, s.ssh, args...)
	// A home of its own keeps the caller's ~/.ssh (keys, config, known hosts) out of it.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Dir(key.Path), "LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Contains(msg, "Permission denied") {
		return fmt.Errorf("%w as %s: %s", ErrRefused, user, msg)
	}
	return fmt.Errorf("sshdtest: ssh %s@%s: %w: %s", user, s.Addr, err, msg)
}

// LoginWithSigner logs in as user with the Go SSH client (golang.org/x/crypto/ssh) and runs
// `true`. Unlike the ssh client, which drops a certificate whose signature does not verify
// before sending it, the Go client presents whatever signer it is given (ssh.NewCertSigner),
// so tests of what sshd itself refuses use it. Errors are as Login's.
func (s *Server) LoginWithSigner(ctx context.Context, user string, signer ssh.Signer) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("sshdtest: dial %s: %w", s.Addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.hostKey),
	})
	if err != nil {
		if strings.Contains(err.Error(), "unable to authenticate") {
			return fmt.Errorf("%w as %s: %v", ErrRefused, user, err)
		}
		return fmt.Errorf("sshdtest: ssh %s@%s: %w", user, s.Addr, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("sshdtest: open session: %w", err)
	}
	defer session.Close()
	if err := session.Run("true"); err != nil {
		return fmt.Errorf("sshdtest: run true as %s: %w", user, err)
	}
	return nil
}

// CanLoginWithSigner is LoginWithSigner for tests, as CanLogin is Login.
func (s *Server) CanLoginWithSigner(t testing.TB, user string, signer ssh.Signer) bool {
	t.Helper()
	return s.loggedIn(t, s.LoginWithSigner(context.Background(), user, signer))
}

// CanLogin is Login for tests: true when the login worked, false when the server refused it;
// anything else fails t.
func (s *Server) CanLogin(t testing.TB, user string, key *UserKey, certLine string) bool {
	t.Helper()
	return s.loggedIn(t, s.Login(context.Background(), user, key, certLine))
}

// loggedIn reads a login's error for CanLogin: nil is true, a refusal false, and anything
// else, which says nothing of what the server allows, fails t.
func (s *Server) loggedIn(t testing.TB, err error) bool {
	t.Helper()
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrRefused):
		return false
	}
	t.Fatalf("%v\n%s", err, s.LogTail(10))
	return false
}

// SignCert signs a user certificate for key with the server's CA, valid for principals from
// validAfter to validBefore: a certificate made without the adapter, for tests of the harness
// and of what sshd refuses.
func (s *Server) SignCert(key ssh.PublicKey, serial uint64, principals []string, validAfter, validBefore time.Time) (*ssh.Certificate, error) {
	cert := &ssh.Certificate{
		Key:             key,
		Serial:          serial,
		CertType:        ssh.UserCert,
		KeyId:           "sshdtest",
		ValidPrincipals: principals,
		ValidAfter:      uint64(validAfter.Unix()),
		ValidBefore:     uint64(validBefore.Unix()),
		Permissions:     ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if err := cert.SignCert(rand.Reader, s.CASigner); err != nil {
		return nil, fmt.Errorf("sshdtest: sign certificate: %w", err)
	}
	return cert, nil
}

// CertLine returns a certificate as one authorized_keys line.
func CertLine(cert *ssh.Certificate) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))
}

var shared servertest.Shared[*Server]

// Shared returns the package's shared server, started by the first test that asks. Main stops
// it after the last test.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "sshdtest", start)
}

// Main runs a package's tests and then stops the shared server, if one started. Call it from
// TestMain.
func Main(m *testing.M) { shared.Main(m) }
