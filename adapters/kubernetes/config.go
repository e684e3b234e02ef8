package kubernetes

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
)

// Modes of the adapter.
const (
	// ModeBinding binds the person (a User, or a Group) to the role for the grant.
	ModeBinding = "binding"
	// ModeToken makes a ServiceAccount per grant, binds it to the role and hands the person a
	// kubeconfig with a token that expires with the grant.
	ModeToken = "token"
)

// Subject kinds of binding mode.
const (
	KindUser  = "User"
	KindGroup = "Group"
)

const (
	defaultTimeout        = 15 * time.Second
	defaultTokenNamespace = "accessbot-grants"
	defaultQPS            = 50
	defaultBurst          = 100
)

// dns1123Label is a namespace's name: lower-case letters, digits and '-', at most 63 characters.
var dns1123Label = ident.New(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`, `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, 1, 63)

// Config is the kubernetes adapter's configuration block: one cluster (a kubeconfig context or
// the cluster accessbot runs in), one role, and the namespaces it is bound in.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file; empty means the in-cluster config (the pod's
	// service account), for accessbot running in the cluster it manages.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context to use; the file's current context when empty.
	Context string `yaml:"context"`
	// Mode is "binding" (the default) or "token".
	Mode string `yaml:"mode"`
	// Role is a Role to bind in each of Namespaces.
	Role string `yaml:"role"`
	// ClusterRole is a ClusterRole to bind: in each of Namespaces with a RoleBinding, or
	// cluster-wide with a ClusterRoleBinding when Namespaces is empty.
	ClusterRole string `yaml:"cluster_role"`
	// Namespaces are where the role is bound; empty binds ClusterRole cluster-wide.
	Namespaces []string `yaml:"namespaces"`
	// SubjectKind is what binding mode binds the person's account as: "User" (the default; the
	// name the cluster's authentication gives the person, from the resource's account template)
	// or "Group".
	SubjectKind string `yaml:"subject_kind"`
	// ServiceAccountNamespace is where token mode makes its per-grant ServiceAccounts. It must
	// exist; "accessbot-grants" when empty.
	ServiceAccountNamespace string `yaml:"service_account_namespace"`
	// KubeconfigServer and KubeconfigCAFile are the API server URL and CA that token mode writes
	// into the person's kubeconfig, when people reach the cluster at another address than
	// accessbot does (accessbot inside the cluster, people through a load balancer). By default
	// the ones accessbot uses.
	KubeconfigServer string `yaml:"kubeconfig_server"`
	KubeconfigCAFile string `yaml:"kubeconfig_ca_file"`
	// Timeout bounds each Grant, Revoke, Extend, List and Check as a whole.
	Timeout time.Duration `yaml:"timeout"`
	// QPS and Burst are the client's own rate limit towards the API server.
	QPS   float32 `yaml:"qps"`
	Burst int     `yaml:"burst"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		Mode:                    ModeBinding,
		SubjectKind:             KindUser,
		ServiceAccountNamespace: defaultTokenNamespace,
		Timeout:                 defaultTimeout,
		QPS:                     defaultQPS,
		Burst:                   defaultBurst,
	}
}

// ResolvePaths makes the kubeconfig and CA paths relative to the config file's directory.
func (c *Config) ResolvePaths(dir string) {
	for _, f := range []*string{&c.Kubeconfig, &c.KubeconfigCAFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}

// Validate checks the values without reading files or contacting the cluster.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeBinding, ModeToken:
	default:
		return fmt.Errorf("mode %q: use %q or %q", c.Mode, ModeBinding, ModeToken)
	}
	switch {
	case c.Role == "" && c.ClusterRole == "":
		return errors.New("set role (a Role in each namespace) or cluster_role")
	case c.Role != "" && c.ClusterRole != "":
		return errors.New("set role or cluster_role, not both")
	case c.Role != "" && len(c.Namespaces) == 0:
		return errors.New("role is a namespaced Role: list the namespaces to bind it in, or use cluster_role")
	}
	for _, r := range []string{c.Role, c.ClusterRole} {
		if r != "" && !validObjectName(r) {
			return fmt.Errorf("role name %q is not a Kubernetes object name", r)
		}
	}
	seen := map[string]bool{}
	for _, ns := range c.Namespaces {
		if !dns1123Label.MatchString(ns) {
			return fmt.Errorf("namespace %q is not a namespace name (lower-case letters, digits and '-', at most 63)", ns)
		}
		if seen[ns] {
			return fmt.Errorf("namespace %q is listed twice", ns)
		}
		seen[ns] = true
	}
	switch c.SubjectKind {
	case KindUser, KindGroup:
	default:
		return fmt.Errorf("subject_kind %q: use %q or %q", c.SubjectKind, KindUser, KindGroup)
	}
	if c.Mode == ModeToken {
		if c.SubjectKind != KindUser {
			return errors.New("subject_kind is for binding mode: token mode binds a ServiceAccount of its own")
		}
		if !dns1123Label.MatchString(c.ServiceAccountNamespace) {
			return fmt.Errorf("service_account_namespace %q is not a namespace name", c.ServiceAccountNamespace)
		}
	} else if c.KubeconfigServer != "" || c.KubeconfigCAFile != "" {
		return errors.New("kubeconfig_server and kubeconfig_ca_file are for token mode, which hands out a kubeconfig")
	}
	if c.KubeconfigServer != "" {
		u, err := url.Parse(c.KubeconfigServer)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("kubeconfig_server %q: want an https:// URL", c.KubeconfigServer)
		}
	}
	if c.Timeout <= 0 {
		return errors.New("timeout must be positive")
	}
	if c.QPS <= 0 || c.Burst < 1 {
		return errors.New("qps must be positive and burst at least 1")
	}
	return nil
}

// validObjectName is what RBAC object names may be: a path segment, so no '/' or '%', not "."
// or "..", at most 253 characters, and nothing unprintable.
func validObjectName(s string) bool {
	if s == "" || len(s) > 253 || s == "." || s == ".." || strings.ContainsAny(s, "/%") {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// String describes the config.
func (c Config) String() string {
	role := "ClusterRole " + c.ClusterRole
	if c.Role != "" {
		role = "Role " + c.Role
	}
	where := "cluster-wide"
	if len(c.Namespaces) > 0 {
		where = "in " + strings.Join(c.Namespaces, ",")
	}
	src := "in-cluster"
	if c.Kubeconfig != "" {
		src = c.Kubeconfig
		if c.Context != "" {
			src += "#" + c.Context
		}
	}
	return fmt.Sprintf("kubernetes{%s %s %s via %s}", c.Mode, role, where, src)
}
