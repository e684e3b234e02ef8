package kubernetes

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/kubetest"
)

// kubeconfigWith writes a kubeconfig for the test server whose one user is user (YAML).
func kubeconfigWith(t *testing.T, srv *kubetest.Server, dir, user string) string {
	t.Helper()
	ca := base64.StdEncoding.EncodeToString(srv.CAData)
	text := `apiVersion: v1
kind: Config
current-context: kt
clusters:
- name: kt
  cluster:
    server: ` + srv.URL + `
    certificate-authority-data: ` + ca + `
contexts:
- name: kt
  context: {cluster: kt, user: bot}
users:
- name: bot
  user:
` + user
	p := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkWith(t *testing.T, kubeconfig string, nss []string) error {
	t.Helper()
	c := NewConfig()
	c.Kubeconfig, c.ClusterRole, c.Namespaces = kubeconfig, "kt-reader", nss
	a, err := c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return a.(adapters.Checker).Check(context.Background())
}

// An exec credential plugin (how EKS, GKE and AKS kubeconfigs log in) is run for a token, which is
// kept, and run again when the API server refuses the token it gave.
func TestAnExecPluginsTokenIsUsedKeptAndRenewedAfterARefusal(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	// The first run hands out a token the server refuses; later runs the bot's own.
	plugin := filepath.Join(dir, "plugin.sh")
	script := `#!/bin/sh
echo run >> "` + runs + `"
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 1;; esac
if [ "$(wc -l < "` + runs + `")" -eq 1 ]; then tok=not-a-valid-token; else tok=` + srv.Token(kubetest.Bot) + `; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$tok"
`
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	// A command with a path is the kubeconfig's directory's, as kubectl reads it.
	kc := kubeconfigWith(t, srv, dir, `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      interactiveMode: Never
`)
	if err := checkWith(t, kc, nss); err != nil {
		t.Fatalf("check through the exec plugin: %v", err)
	}
	b, _ := os.ReadFile(runs)
	if n := strings.Count(string(b), "run"); n != 2 {
		t.Fatalf("the plugin ran %d times, want 2 (a refused token, then a new one kept for every later request)", n)
	}
}

// A client certificate from the kubeconfig authenticates (the check then speaks of RBAC, not of
// refused credentials), and a token file is read from the kubeconfig's directory.
func TestClientCertificatesAndTokenFilesFromTheKubeconfig(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	dir := t.TempDir()
	kc := kubeconfigWith(t, srv, dir, `    client-certificate: `+srv.ClientCertFile+`
    client-key: `+srv.ClientKeyFile+`
`)
	err := checkWith(t, kc, nss)
	if err == nil || !strings.Contains(err.Error(), "lacks RBAC permission") {
		t.Fatalf("check as %q by certificate: %v, want the RBAC it lacks (it authenticated)", kubetest.ClientCertUser, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bot.token"), []byte(srv.Token(kubetest.Bot)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc = kubeconfigWith(t, srv, dir, "    tokenFile: bot.token\n")
	if err := checkWith(t, kc, nss); err != nil {
		t.Fatalf("check with a token file beside the kubeconfig: %v", err)
	}
}

// In a pod: the API server from the kubelet's environment, the service account's token and CA
// from where the kubelet mounts them.
func TestTheInClusterConfigIsThePodsServiceAccount(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	dir := t.TempDir()
	tok, ca := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(tok, []byte(srv.Token(kubetest.Bot)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, srv.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	oldTok, oldCA := inClusterTokenFile, inClusterCAFile
	inClusterTokenFile, inClusterCAFile = tok, ca
	t.Cleanup(func() { inClusterTokenFile, inClusterCAFile = oldTok, oldCA })
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	if err := checkWith(t, "", nss); err != nil {
		t.Fatalf("check in cluster: %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	c := NewConfig()
	c.ClusterRole = "view"
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "not running in a cluster") {
		t.Fatalf("new outside a cluster without a kubeconfig: %v", err)
	}
}

// A cluster whose certificate accessbot would not verify is refused at start: accessbot's
// identity can bind roles, and a server it cannot verify could be anyone's.
func TestAnUnverifiedClusterIsRefused(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: kt
clusters: [{name: kt, cluster: {server: "https://192.0.2.1:6443", insecure-skip-tls-verify: true}}]
contexts: [{name: kt, context: {cluster: kt, user: u}}]
users: [{name: u, user: {token: abc}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	c.Kubeconfig, c.ClusterRole = kc, "view"
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "insecure-skip-tls-verify is refused") {
		t.Fatalf("new with insecure-skip-tls-verify: %v, want it refused", err)
	}
}

// Kubeconfig features the adapter cannot honour are refused at start, by name.
func TestUnsupportedKubeconfigUsersAreRefusedByName(t *testing.T) {
	srv := server(t)
	for user, want := range map[string]string{
		"    auth-provider: {name: gcp}\n":                                                               "auth-provider",
		"    username: admin\n    password: x\n":                                                         "basic authentication",
		"    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}\n":                    "exec apiVersion",
		"    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Always}\n": "interactiveMode Always",
		"    client-certificate-data: bm90LWEtY2VydA==\n":                                                "client-certificate without client-key",
	} {
		kc := kubeconfigWith(t, srv, t.TempDir(), user)
		c := NewConfig()
		c.Kubeconfig, c.ClusterRole = kc, "view"
		_, err := c.New(adapters.Env{Log: zerolog.Nop()})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("user %q: %v, want an error saying %q", user, err, want)
		}
	}
}

// The cluster's CA from a file beside the kubeconfig, and tls-server-name: the server's
// certificate is checked against that name, so a name it does not carry fails the handshake.
func TestTheCAFileAndTheTLSServerNameAreHonoured(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(serverName string) string {
		text := `apiVersion: v1
kind: Config
current-context: kt
clusters: [{name: kt, cluster: {server: "` + srv.URL + `", certificate-authority: ca.pem, tls-server-name: "` + serverName + `"}}]
contexts: [{name: kt, context: {cluster: kt, user: bot}}]
users: [{name: bot, user: {token: ` + srv.Token(kubetest.Bot) + `}}]
`
		p := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The test server's certificate is for 127.0.0.1 and localhost.
	if err := checkWith(t, write("localhost"), nss); err != nil {
		t.Fatalf("check with the CA file and tls-server-name localhost: %v", err)
	}
	err := checkWith(t, write("not-the-server.example"), nss)
	if err == nil || !strings.Contains(err.Error(), "certificate") || adapters.IsPermanent(err) {
		t.Fatalf("check with a server name the certificate lacks: %v, want a retryable certificate error", err)
	}
}

// proxy-url sends the API requests through that proxy (a CONNECT tunnel for https).
func TestTheKubeconfigsProxyIsUsed(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		tunnels.Add(1)
		w.WriteHeader(http.StatusOK)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { _, _ = io.Copy(up, conn); up.Close() }()
		go func() { _, _ = io.Copy(conn, up); conn.Close() }()
	}))
	t.Cleanup(proxy.Close)
	dir := t.TempDir()
	ca := base64.StdEncoding.EncodeToString(srv.CAData)
	text := `apiVersion: v1
kind: Config
current-context: kt
clusters: [{name: kt, cluster: {server: "` + srv.URL + `", certificate-authority-data: ` + ca + `, proxy-url: "` + proxy.URL + `"}}]
contexts: [{name: kt, context: {cluster: kt, user: bot}}]
users: [{name: bot, user: {token: ` + srv.Token(kubetest.Bot) + `}}]
`
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkWith(t, kc, nss); err != nil {
		t.Fatalf("check through the proxy: %v", err)
	}
	if tunnels.Load() == 0 {
		t.Fatal("no request went through the kubeconfig's proxy-url")
	}
}

// An exec plugin's token is kept until a minute before the expirationTimestamp it gives: one
// that ends within the minute is asked for again at every request, one that ends in an hour once.
func TestAnExecTokenIsKeptUntilAMinuteBeforeItsExpiry(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	for _, tc := range []struct {
		expiresIn time.Duration
		runs      func(int) bool
		want      string
	}{
		{time.Hour, func(n int) bool { return n == 1 }, "once"},
		{30 * time.Second, func(n int) bool { return n > 1 }, "at every request"},
	} {
		dir := t.TempDir()
		runs := filepath.Join(dir, "runs")
		exp := time.Now().Add(tc.expiresIn).UTC().Format(time.RFC3339)
		script := `#!/bin/sh
echo run >> "` + runs + `"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + srv.Token(kubetest.Bot) + `","expirationTimestamp":"` + exp + `"}}'
`
		if err := os.WriteFile(filepath.Join(dir, "plugin.sh"), []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		kc := kubeconfigWith(t, srv, dir, "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh}\n")
		if err := checkWith(t, kc, nss); err != nil {
			t.Fatalf("check through the plugin: %v", err)
		}
		b, _ := os.ReadFile(runs)
		if n := strings.Count(string(b), "run"); !tc.runs(n) {
			t.Errorf("a token ending in %s: the plugin ran %d times for one check's requests, want %s", tc.expiresIn, n, tc.want)
		}
	}
}
