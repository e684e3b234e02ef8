// Package kubetest starts throwaway Kubernetes API servers for tests: Debian's etcd (the
// etcd-server package) on a data directory of its own, and kube-apiserver, which Debian does not
// package and .ci/kube-apiserver builds once from the Go module proxy into the tools cache. The
// API server authenticates with a static token file (an admin in system:masters, the bot and a
// few people, each with a token of its own), authorizes with RBAC only, so the bootstrap
// ClusterRoles (view, edit, admin, cluster-admin) exist and nobody but the admin may do anything
// until a binding says so, and signs service-account tokens with a key made for the server, so
// the TokenRequest API works. No controller manager runs: nothing garbage-collects, nothing
// schedules pods.
//
// One server per package is the usual shape:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := kubetest.Shared(t)
//		status, body := srv.Do(t, kubetest.Admin, http.MethodGet, "/api/v1/namespaces", nil)
//		...
//	}
//
// When etcd or kube-apiserver is missing the test skips with a message saying how to get it, or
// fails when the environment variable CI is set (servertest.Handle).
package kubetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/servertest"
	"github.com/accessbot/accessbot/internal/tlstest"
)

// Version is the Kubernetes release .ci/kube-apiserver builds; the binary is cached under this
// name.
const Version = "v1.31.4"

// InstallHint says how to get the binaries.
const InstallHint = "install etcd (apt-get install etcd-server) and build kube-apiserver (.ci/kube-apiserver)"

// The users every server knows, by name. Admin is in system:masters; the others hold nothing until
// a test binds them to something.
const (
	Admin = "kubetest-admin"
	// Bot is the user the adapter under test runs as.
	Bot = "accessbot"
	// Alice and Bob are people access is granted to.
	Alice = "alice@example.com"
	Bob   = "bob@example.com"
)

// ClientCertUser is the user the server's client certificate authenticates as.
const ClientCertUser = "kubetest client"

// Users are the users the token file lists, Admin first.
var Users = []string{Admin, Bot, Alice, Bob}

// Server is a running throwaway API server and its etcd.
type Server struct {
	// URL is the API server's address, https://127.0.0.1:port.
	URL string
	// CAFile is the PEM file of the CA that signed the server's certificate; CAData is its
	// content.
	CAFile string
	CAData []byte
	// Dir holds etcd's data, the certificates, the keys and the logs.
	Dir string
	// ClientCertFile and ClientKeyFile are a client certificate the server accepts, for the
	// user ClientCertUser (its common name), who holds no RBAC.
	ClientCertFile, ClientKeyFile string

	tokens     map[string]string
	etcdURL    string
	etcd, kube servertest.Process
	etcdBin    string
	kubeBin    string
}

var shared servertest.Shared[*Server]

// Main runs the package's tests and stops the shared server after the last.
func Main(m *testing.M) { shared.Main(m) }

// Shared returns the package's server, starting it for the first test that asks. Tests that share
// it use names of their own (namespaces, roles) so they do not see each other's objects.
func Shared(t testing.TB) *Server {
	t.Helper()
	return shared.Get(t, "kubetest", start)
}

// Start starts a server of t's own and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return servertest.Start(t, servertest.TempDir("kubetest"), start)
}

// Token returns the bearer token of one of Users.
func (s *Server) Token(user string) string {
	tok, ok := s.tokens[user]
	if !ok {
		panic("kubetest: no user " + user)
	}
	return tok
}

// Kubeconfig writes a kubeconfig file for user into dir with one context, named context, and
// returns its path.
func (s *Server) Kubeconfig(t testing.TB, dir, user, context string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": context,
		"clusters": []any{map[string]any{"name": "kubetest", "cluster": map[string]any{
			"server": s.URL, "certificate-authority-data": s.CAData,
		}}},
		"users": []any{map[string]any{"name": user, "user": map[string]any{"token": s.Token(user)}}},
		"contexts": []any{map[string]any{"name": context, "context": map[string]any{
			"cluster": "kubetest", "user": user,
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, context+".kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Do sends one request to the API server as user and returns the status and body: a test's way
// to ask "may this person do that" with the person's own credentials.
func (s *Server) Do(t testing.TB, user, method, path string, body io.Reader) (int, []byte) {
	t.Helper()
	return s.DoToken(t, s.Token(user), method, path, body)
}

// DoToken is Do with a bearer token.
func (s *Server) DoToken(t testing.TB, token, method, path string, body io.Reader) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatalf("kubetest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("kubetest: %s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// Apply sends one object (JSON or YAML) to the server with server-side apply as the admin,
// with field manager "kubetest", and fails t unless the server accepts it. path is the object's
// URL path ("/api/v1/namespaces/x").
func (s *Server) Apply(t testing.TB, path string, object []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.URL+path+"?fieldManager=kubetest&force=true", strings.NewReader(string(object)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token(Admin))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatalf("kubetest: apply %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("kubetest: apply %s: %s: %s", path, resp.Status, b)
	}
}

// Namespace makes a namespace as the admin (nothing happens if it exists).
func (s *Server) Namespace(t testing.TB, name string) {
	t.Helper()
	s.Apply(t, "/api/v1/namespaces/"+name, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+name+`"}}`))
}

// Can asks the API server, as the admin, whether user in groups may do verb on resource (as
// "rolebindings.rbac.authorization.k8s.io" or "pods") in namespace (empty: cluster-wide), by a
// SubjectAccessReview: what RBAC says now, without the person's credentials.
func (s *Server) Can(t testing.TB, user string, groups []string, verb, resource, namespace string) bool {
	t.Helper()
	res, group, _ := strings.Cut(resource, ".")
	review := map[string]any{
		"apiVersion": "authorization.k8s.io/v1",
		"kind":       "SubjectAccessReview",
		"spec": map[string]any{
			"user":   user,
			"groups": groups,
			"resourceAttributes": map[string]any{
				"verb": verb, "resource": res, "group": group, "namespace": namespace,
			},
		},
	}
	b, _ := json.Marshal(review)
	status, body := s.Do(t, Admin, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", strings.NewReader(string(b)))
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("kubetest: SubjectAccessReview: %d %s", status, body)
	}
	var out struct {
		Status struct {
			Allowed bool `json:"allowed"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("kubetest: SubjectAccessReview: %v", err)
	}
	return out.Status.Allowed
}

func (s *Server) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAData)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// Stop stops the API server, then etcd.
func (s *Server) Stop() {
	s.kube.Stop()
	s.etcd.Stop()
}

// findEtcd returns the path of etcd: the PATH, else where Debian puts it.
func findEtcd() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if servertest.IsExecutable("/usr/bin/etcd") {
		return "/usr/bin/etcd", nil
	}
	return "", servertest.Unavailable{Msg: "kubetest: no etcd in PATH or /usr/bin; " + InstallHint}
}

// findKubeAPIServer returns the path of kube-apiserver: $ACCESSBOT_KUBE_APISERVER, else the
// tools cache where .ci/kube-apiserver puts it.
func findKubeAPIServer() (string, error) {
	if p := os.Getenv("ACCESSBOT_KUBE_APISERVER"); p != "" {
		if servertest.IsExecutable(p) {
			return p, nil
		}
		return "", servertest.Unavailable{Msg: "kubetest: ACCESSBOT_KUBE_APISERVER=" + p + " is not an executable file; " + InstallHint}
	}
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", servertest.Unavailable{Msg: "kubetest: no cache directory: " + err.Error()}
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	p := filepath.Join(tools, "bin", "kube-apiserver-"+Version)
	if servertest.IsExecutable(p) {
		return p, nil
	}
	return "", servertest.Unavailable{Msg: "kubetest: no " + p + "; " + InstallHint}
}

func start(dir string) (*Server, error) {
	etcdBin, err := findEtcd()
	if err != nil {
		return nil, err
	}
	kubeBin, err := findKubeAPIServer()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, etcdBin: etcdBin, kubeBin: kubeBin, tokens: map[string]string{}}
	s.etcd = servertest.Process{
		Label: "kubetest", Name: "etcd", Output: filepath.Join(dir, "etcd.log"),
		StopSignal: syscall.SIGTERM, StopGrace: 10 * time.Second,
	}
	s.kube = servertest.Process{
		Label: "kubetest", Name: "kube-apiserver", Output: filepath.Join(dir, "kube-apiserver.log"),
		StopSignal: syscall.SIGTERM, StopGrace: 10 * time.Second,
	}
	if err := s.writeFiles(); err != nil {
		return nil, err
	}
	if err := servertest.OnFreePort(s.runEtcd); err != nil {
		return nil, err
	}
	if err := servertest.OnFreePort(s.runKube); err != nil {
		s.etcd.Stop()
		return nil, err
	}
	return s, nil
}

// writeFiles writes the token file, the service-account signing key and the serving
// certificate.
func (s *Server) writeFiles() error {
	var tokens strings.Builder
	for i, u := range Users {
		tok := servertest.RandomHex(24)
		s.tokens[u] = tok
		groups := ""
		if u == Admin {
			groups = `,"system:masters"`
		}
		// token,user,uid[,"group1,group2"]
		fmt.Fprintf(&tokens, "%s,%s,uid-%d%s\n", tok, u, i, groups)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "tokens.csv"), []byte(tokens.String()), 0o600); err != nil {
		return fmt.Errorf("kubetest: write token file: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("kubetest: service-account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("kubetest: service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("kubetest: service-account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("kubetest: write service-account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return fmt.Errorf("kubetest: write service-account key: %w", err)
	}
	files, err := tlstest.Write(s.Dir, "kubetest")
	if err != nil {
		return err
	}
	s.CAFile = files.CAFile
	s.ClientCertFile, s.ClientKeyFile = files.CertFile, files.KeyFile
	if s.CAData, err = os.ReadFile(files.CAFile); err != nil {
		return fmt.Errorf("kubetest: read CA: %w", err)
	}
	return nil
}

// runEtcd starts etcd with its client URL on port and a peer URL on another free port.
func (s *Server) runEtcd(port int) error {
	peer, err := servertest.FreePort()
	if err != nil {
		return err
	}
	s.etcdURL = "http://127.0.0.1:" + strconv.Itoa(port)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	cmd := exec.Command(s.etcdBin,
		"--name", "kubetest",
		"--data-dir", filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls", s.etcdURL,
		"--advertise-client-urls", s.etcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubetest="+peerURL,
		// A throwaway store: no fsync, and nothing to reclaim.
		"--unsafe-no-fsync",
		"--log-level", "warn",
	)
	servertest.Prepare(cmd, s.Dir, nil, syscall.SIGKILL)
	health := func(ctx context.Context) error { return getOK(ctx, http.DefaultClient, s.etcdURL+"/health", "") }
	return s.etcd.Run(cmd, 30*time.Second, health)
}

// runKube starts kube-apiserver on port and waits until /readyz says ok, which includes the
// post-start hook that makes the bootstrap RBAC roles.
func (s *Server) runKube(port int) error {
	s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(s.kubeBin,
		"--etcd-servers", s.etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(s.Dir, "server.crt"),
		"--tls-private-key-file", filepath.Join(s.Dir, "server.key"),
		"--client-ca-file", s.CAFile,
		"--token-auth-file", filepath.Join(s.Dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--anonymous-auth=false",
		"--service-account-issuer", "https://kubetest.invalid",
		"--service-account-key-file", filepath.Join(s.Dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(s.Dir, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/24",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--cert-dir", filepath.Join(s.Dir, "certs"),
	)
	servertest.Prepare(cmd, s.Dir, nil, syscall.SIGKILL)
	client := s.httpClient()
	ready := func(ctx context.Context) error { return getOK(ctx, client, s.URL+"/readyz", s.tokens[Admin]) }
	err := s.kube.Run(cmd, time.Minute, ready)
	if err != nil && strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("kubetest: port %d: already in use: %w", port, err)
	}
	return err
}

// getOK is a readiness probe: GET url answers 200.
func getOK(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return nil
}
