package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// clusterConfig is what the client needs to reach one API server as accessbot: from a kubeconfig
// context, or from the pod's service account.
type clusterConfig struct {
	server        string
	caData        []byte
	tlsServerName string
	proxy         *url.URL
	creds         credentials
}

// credentials give each request its bearer token and the TLS handshake its client certificate.
type credentials interface {
	// token returns the bearer token to send, or "" for none.
	token(ctx context.Context) (string, error)
	// clientCertificate is tls.Config.GetClientCertificate.
	clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// refresh forgets a cached credential after a 401 and reports whether a new one may differ.
	refresh() bool
}

// credentialError is a failure to obtain accessbot's own credentials (an exec plugin that fails,
// a token file that is gone); permanent when retrying cannot help.
type credentialError struct {
	err       error
	permanent bool
}

func (e *credentialError) Error() string { return "accessbot's cluster credentials: " + e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// The kubeconfig file, as far as the adapter reads it (the fields kubectl's documentation
// gives for clusters, users and contexts).
type kubeconfigFile struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
			ProxyURL                 string `yaml:"proxy-url"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string   `yaml:"name"`
		User userInfo `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

type userInfo struct {
	Token                 string         `yaml:"token"`
	TokenFile             string         `yaml:"tokenFile"`
	ClientCertificate     string         `yaml:"client-certificate"`
	ClientCertificateData string         `yaml:"client-certificate-data"`
	ClientKey             string         `yaml:"client-key"`
	ClientKeyData         string         `yaml:"client-key-data"`
	Exec                  *execConfig    `yaml:"exec"`
	AuthProvider          map[string]any `yaml:"auth-provider"`
	Username              string         `yaml:"username"`
}

// execConfig is a client-go credential plugin (client.authentication.k8s.io): the command a
// managed cluster's kubeconfig runs for a token (EKS, GKE, AKS logins).
type execConfig struct {
	APIVersion string   `yaml:"apiVersion"`
	Command    string   `yaml:"command"`
	Args       []string `yaml:"args"`
	Env        []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	InteractiveMode    string `yaml:"interactiveMode"`
	ProvideClusterInfo bool   `yaml:"provideClusterInfo"`
}

// decodeData reads a kubeconfig *-data field: base64 in YAML, as kubectl writes it.
func decodeData(field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64", field)
	}
	return b, nil
}

// loadKubeconfig reads the kubeconfig file and picks the context (the file's current one when
// name is empty). Relative paths in it are relative to the file, as kubectl reads them.
func loadKubeconfig(path, name string) (*clusterConfig, error) {
	raw, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %w", err)
	}
	var f kubeconfigFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if name == "" {
		name = f.CurrentContext
	}
	if name == "" {
		return nil, fmt.Errorf("kubeconfig %s has no current-context: set context", path)
	}
	var clusterName, userName string
	found := false
	for _, c := range f.Contexts {
		if c.Name == name {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("kubeconfig %s has no context %q", path, name)
	}
	cc := &clusterConfig{}
	found = false
	for _, c := range f.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		cl := c.Cluster
		if cl.InsecureSkipTLSVerify {
			// accessbot's identity can bind roles: a server it cannot verify could be anyone's.
			return nil, fmt.Errorf("kubeconfig %s, cluster %q: insecure-skip-tls-verify is refused; give certificate-authority(-data) instead", path, clusterName)
		}
		cc.server, cc.tlsServerName = cl.Server, cl.TLSServerName
		switch {
		case cl.CertificateAuthorityData != "":
			if cc.caData, err = decodeData("certificate-authority-data", cl.CertificateAuthorityData); err != nil {
				return nil, fmt.Errorf("kubeconfig %s, cluster %q: %v", path, clusterName, err)
			}
		case cl.CertificateAuthority != "":
			if cc.caData, err = readFile(rel(cl.CertificateAuthority)); err != nil {
				return nil, fmt.Errorf("kubeconfig %s, cluster %q: certificate-authority %w", path, clusterName, err)
			}
		}
		if cl.ProxyURL != "" {
			if cc.proxy, err = url.Parse(cl.ProxyURL); err != nil {
				return nil, fmt.Errorf("kubeconfig %s, cluster %q: proxy-url: %v", path, clusterName, err)
			}
		}
	}
	if !found || cc.server == "" {
		return nil, fmt.Errorf("kubeconfig %s: context %q names cluster %q, which has no server", path, name, clusterName)
	}
	for _, u := range f.Users {
		if u.Name == userName {
			creds, err := userCredentials(u.User, rel, cc)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s, user %q: %v", path, userName, err)
			}
			cc.creds = creds
			return cc, nil
		}
	}
	return nil, fmt.Errorf("kubeconfig %s: context %q names user %q, which it does not list", path, name, userName)
}

// userCredentials builds the credentials of a kubeconfig user.
func userCredentials(u userInfo, rel func(string) string, cc *clusterConfig) (credentials, error) {
	switch {
	case u.AuthProvider != nil:
		return nil, errors.New("auth-provider plugins are not supported: use an exec credential plugin (kubectl's current way for GKE, EKS and AKS)")
	case u.Username != "":
		return nil, errors.New("basic authentication (username, password) is not supported: use a token, a client certificate or an exec plugin")
	}
	s := &staticCreds{}
	switch {
	case u.ClientCertificateData != "" || u.ClientCertificate != "":
		certPEM, keyPEM, err := pemPair(u, rel)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate and key: %v", err)
		}
		s.cert = &cert
	case u.ClientKeyData != "" || u.ClientKey != "":
		return nil, errors.New("client-key without client-certificate")
	}
	switch {
	case u.Exec != nil:
		if u.Token != "" || u.TokenFile != "" || s.cert != nil {
			return nil, errors.New("exec with a token or a client certificate: choose one")
		}
		// A command with a path is the kubeconfig's directory's; a bare name is looked up on
		// PATH, as kubectl does.
		if strings.ContainsRune(u.Exec.Command, filepath.Separator) {
			u.Exec.Command = rel(u.Exec.Command)
		}
		return newExecCreds(u.Exec, cc)
	case u.Token != "":
		s.tok = u.Token
	case u.TokenFile != "":
		return &fileCreds{path: rel(u.TokenFile), cert: s.cert}, nil
	}
	return s, nil
}

// pemPair reads a kubeconfig user's client certificate and key, from data or files.
func pemPair(u userInfo, rel func(string) string) (certPEM, keyPEM []byte, err error) {
	if u.ClientCertificateData != "" {
		if certPEM, err = decodeData("client-certificate-data", u.ClientCertificateData); err != nil {
			return nil, nil, err
		}
	} else if certPEM, err = readFile(rel(u.ClientCertificate)); err != nil {
		return nil, nil, fmt.Errorf("client-certificate %w", err)
	}
	switch {
	case u.ClientKeyData != "":
		keyPEM, err = decodeData("client-key-data", u.ClientKeyData)
	case u.ClientKey != "":
		if keyPEM, err = readFile(rel(u.ClientKey)); err != nil {
			err = fmt.Errorf("client-key %w", err)
		}
	default:
		err = errors.New("client-certificate without client-key")
	}
	return certPEM, keyPEM, err
}

// staticCreds is a fixed token and/or client certificate.
type staticCreds struct {
	tok  string
	cert *tls.Certificate
}

func (s *staticCreds) token(context.Context) (string, error) { return s.tok, nil }
func (s *staticCreds) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if s.cert == nil {
		return &tls.Certificate{}, nil
	}
	return s.cert, nil
}
func (s *staticCreds) refresh() bool { return false }

// fileCreds reads a token from a file that something else keeps fresh (the kubelet's projected
// service-account token, rotated hourly), again at most once a minute.
type fileCreds struct {
	path string
	cert *tls.Certificate

	mu   sync.Mutex
	tok  string
	read time.Time
}

const tokenFileReread = time.Minute

func (f *fileCreds) token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tok != "" && time.Since(f.read) < tokenFileReread {
		return f.tok, nil
	}
	b, err := readFile(f.path)
	if err != nil {
		return "", &credentialError{err: fmt.Errorf("token file %w", err)}
	}
	f.tok, f.read = strings.TrimSpace(string(b)), time.Now()
	return f.tok, nil
}

func (f *fileCreds) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if f.cert == nil {
		return &tls.Certificate{}, nil
	}
	return f.cert, nil
}

func (f *fileCreds) refresh() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tok = ""
	return true
}

// The pod's service account, where a kubelet mounts it.
var (
	inClusterTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	inClusterCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// inCluster is the config of a pod talking to its own cluster: the API server from the
// environment the kubelet sets, the service account's rotating token and the cluster CA.
func inCluster() (*clusterConfig, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("no kubeconfig set and not running in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset)")
	}
	ca, err := readFile(inClusterCAFile)
	if err != nil {
		return nil, fmt.Errorf("in-cluster CA %w", err)
	}
	if _, err := readFile(inClusterTokenFile); err != nil {
		return nil, fmt.Errorf("in-cluster service-account token %w", err)
	}
	return &clusterConfig{
		server: "https://" + net.JoinHostPort(host, port),
		caData: ca,
		creds:  &fileCreds{path: inClusterTokenFile},
	}, nil
}

// execCreds runs a credential plugin and keeps what it returns until its expiry.
type execCreds struct {
	cfg     *execConfig
	cluster []byte // KUBERNETES_EXEC_INFO's spec.cluster, when the plugin asks for it

	mu      sync.Mutex
	tok     string
	cert    *tls.Certificate
	expires time.Time
	have    bool
}

// execTimeout bounds one run of the plugin.
const execTimeout = time.Minute

func newExecCreds(e *execConfig, cc *clusterConfig) (*execCreds, error) {
	switch e.APIVersion {
	case "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1":
	default:
		return nil, fmt.Errorf("exec apiVersion %q: want client.authentication.k8s.io/v1 or v1beta1", e.APIVersion)
	}
	if e.Command == "" {
		return nil, errors.New("exec has no command")
	}
	if e.InteractiveMode == "Always" {
		return nil, errors.New("exec interactiveMode Always: accessbot runs unattended; use a plugin that needs no terminal")
	}
	x := &execCreds{cfg: e}
	if e.ProvideClusterInfo {
		cluster, err := json.Marshal(map[string]any{
			"server": cc.server, "tls-server-name": cc.tlsServerName,
			"certificate-authority-data": cc.caData,
		})
		if err != nil {
			return nil, err
		}
		x.cluster = cluster
	}
	return x, nil
}

// execStatus is the ExecCredential a plugin prints.
type execStatus struct {
	Kind   string `json:"kind"`
	Status *struct {
		Token                 string     `json:"token"`
		ClientCertificateData string     `json:"clientCertificateData"`
		ClientKeyData         string     `json:"clientKeyData"`
		ExpirationTimestamp   *time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

// get returns the plugin's credential, running it when there is none or it expires within a
// minute.
func (x *execCreds) get(ctx context.Context) (string, *tls.Certificate, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.have && (x.expires.IsZero() || time.Until(x.expires) > time.Minute) {
		return x.tok, x.cert, nil
	}
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	info := `{"apiVersion":"` + x.cfg.APIVersion + `","kind":"ExecCredential","spec":{"interactive":false`
	if x.cluster != nil {
		info += `,"cluster":` + string(x.cluster)
	}
	info += `}}`
	cmd := exec.CommandContext(ctx, x.cfg.Command, x.cfg.Args...)
	cmd.Env = append(os.Environ(), "KUBERNETES_EXEC_INFO="+info)
	for _, e := range x.cfg.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The plugin's own words, first line only: it may print a login hint, never the token.
		line, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return "", nil, &credentialError{err: fmt.Errorf("exec plugin %s: %v: %s", filepath.Base(x.cfg.Command), err, line)}
	}
	var st execStatus
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Kind != "ExecCredential" || st.Status == nil {
		return "", nil, &credentialError{err: fmt.Errorf("exec plugin %s printed no ExecCredential", filepath.Base(x.cfg.Command)), permanent: true}
	}
	x.tok, x.cert = st.Status.Token, nil
	if st.Status.ClientCertificateData != "" {
		cert, err := tls.X509KeyPair([]byte(st.Status.ClientCertificateData), []byte(st.Status.ClientKeyData))
		if err != nil {
			return "", nil, &credentialError{err: fmt.Errorf("exec plugin %s: client certificate: %v", filepath.Base(x.cfg.Command), err), permanent: true}
		}
		x.cert = &cert
	}
	if x.tok == "" && x.cert == nil {
		return "", nil, &credentialError{err: fmt.Errorf("exec plugin %s returned neither a token nor a certificate", filepath.Base(x.cfg.Command)), permanent: true}
	}
	x.expires = time.Time{}
	if st.Status.ExpirationTimestamp != nil {
		x.expires = *st.Status.ExpirationTimestamp
	}
	x.have = true
	return x.tok, x.cert, nil
}

func (x *execCreds) token(ctx context.Context) (string, error) {
	tok, _, err := x.get(ctx)
	return tok, err
}

func (x *execCreds) clientCertificate(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	ctx := context.Background()
	if info != nil && info.Context() != nil {
		ctx = info.Context()
	}
	_, cert, err := x.get(ctx)
	if err != nil || cert == nil {
		return &tls.Certificate{}, nil
	}
	return cert, nil
}

func (x *execCreds) refresh() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.have = false
	return true
}
