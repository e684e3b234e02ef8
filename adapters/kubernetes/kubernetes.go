// Package kubernetes is the adapter for Kubernetes RBAC: time-bound RoleBindings and
// ClusterRoleBindings, one object per grant, and (in token mode) a ServiceAccount per grant with
// a token from the TokenRequest API that expires with the grant.
//
// Kubernetes has no expiring binding of its own; accessbot is the layer that removes it on
// time. Each grant gets objects of its own, named after the grant, so two grants never edit the
// same object and a revoke deletes exactly what its grant made: no read-modify-write of a shared
// subject list, no lost update when two grants end at once. The objects carry the grant ID,
// resource, person and expiry in labels and annotations, so `kubectl get rolebindings -l
// app.kubernetes.io/managed-by=accessbot` shows who has what until when, and the standing-access
// scan (adapters.Lister) reports every binding of the configured role that no grant explains,
// including one made by hand.
//
// In token mode the credential ends by itself: the token's expiry is the grant's, so access ends
// on time even when accessbot is down; a revoke deletes the bindings, which refuses the token at
// once, and the ServiceAccount, after which the token does not authenticate at all.
package kubernetes

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
)

// SecretKind is the Kind of the Secret a token-mode grant returns.
const SecretKind = "kubeconfig"

// Labels and annotations on every object the adapter makes.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	managedBy           = "accessbot"
	LabelGrant          = "accessbot.dev/grant-id"
	LabelResource       = "accessbot.dev/resource"
	AnnotationGrant     = "accessbot.dev/grant-id"
	AnnotationResource  = "accessbot.dev/resource"
	AnnotationPerson    = "accessbot.dev/person"
	AnnotationAccount   = "accessbot.dev/account"
	AnnotationExpires   = "accessbot.dev/expires"
	namePrefix          = "accessbot-"
	clusterScope        = "*"
	rbacGroup           = "rbac.authorization.k8s.io"
	minTokenSeconds     = 600 // the TokenRequest API refuses less than ten minutes
	maxAccountLength    = 256
	leaseBindings       = "bindings"
	leaseServiceAccount = "service_account"
	leaseTokenExpires   = "token_expires"
)

// ErrCannotExtend is wrapped by the permanent error a token-mode Extend returns.
var ErrCannotExtend = errors.New("a service-account token cannot be extended: its expiry is signed into it")

func init() {
	adapters.Register(adapters.Type{
		Name:      "kubernetes",
		Doc:       "binds a Role or ClusterRole to the person for the grant (RoleBinding/ClusterRoleBinding per grant), or hands out a kubeconfig whose token expires with it",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter: it reads the kubeconfig (or the in-cluster config) but does not
// contact the cluster.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	k, err := New(*c, env.Log)
	if err != nil {
		return nil, err
	}
	if c.Mode == ModeToken {
		return &tokenAdapter{k}, nil
	}
	return &bindingAdapter{k}, nil
}

// Kubernetes is what both modes share. It is safe for concurrent use.
type Kubernetes struct {
	cfg    Config
	log    zerolog.Logger
	client *client
	// userServer and userCA are what a token-mode kubeconfig points people at.
	userServer string
	userCA     []byte

	// Now returns the current time; time.Now unless a test replaces it before first use.
	Now func() time.Time
}

// New returns the shared part of the adapter for cfg.
func New(cfg Config, log zerolog.Logger) (*Kubernetes, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cc *clusterConfig
	var err error
	if cfg.Kubeconfig == "" {
		cc, err = inCluster()
	} else {
		cc, err = loadKubeconfig(cfg.Kubeconfig, cfg.Context)
	}
	if err != nil {
		return nil, err
	}
	cl, err := newClient(cc, &cfg)
	if err != nil {
		return nil, err
	}
	k := &Kubernetes{cfg: cfg, log: log, client: cl, userServer: cl.host, userCA: cl.caData, Now: time.Now}
	if cfg.KubeconfigServer != "" {
		k.userServer = cfg.KubeconfigServer
	}
	if cfg.KubeconfigCAFile != "" {
		if k.userCA, err = readFile(cfg.KubeconfigCAFile); err != nil {
			return nil, fmt.Errorf("kubeconfig_ca_file: %w", err)
		}
	}
	return k, nil
}

// bindingAdapter is mode binding: the person's own identity is bound.
type bindingAdapter struct{ *Kubernetes }

// tokenAdapter is mode token: a ServiceAccount of the grant's own is bound.
type tokenAdapter struct{ *Kubernetes }

// binding is one binding a grant makes: a RoleBinding in a namespace, or a ClusterRoleBinding
// (namespace clusterScope).
type binding struct{ namespace, name string }

func (b binding) String() string {
	if b.namespace == clusterScope {
		return "ClusterRoleBinding " + b.name
	}
	return "RoleBinding " + b.namespace + "/" + b.name
}

func (b binding) path() string {
	if b.namespace == clusterScope {
		return "/apis/" + rbacGroup + "/v1/clusterrolebindings/" + b.name
	}
	return "/apis/" + rbacGroup + "/v1/namespaces/" + b.namespace + "/rolebindings/" + b.name
}

// objectName is the name of every object a grant makes: the grant ID is already lower-case
// letters, digits and '-', which is what ServiceAccount names need.
func objectName(grantID string) (string, error) {
	name := namePrefix + grantID
	if !dns1123Label.MatchString(name) {
		return "", adapters.Permanentf("grant ID %q cannot name a Kubernetes object", grantID)
	}
	return name, nil
}

// bindings are the bindings of a grant under the current config.
func (k *Kubernetes) bindings(grantID string) ([]binding, error) {
	name, err := objectName(grantID)
	if err != nil {
		return nil, err
	}
	if len(k.cfg.Namespaces) == 0 {
		return []binding{{clusterScope, name}}, nil
	}
	out := make([]binding, len(k.cfg.Namespaces))
	for i, ns := range k.cfg.Namespaces {
		out[i] = binding{ns, name}
	}
	return out, nil
}

// roleRef is what every binding refers to.
func (k *Kubernetes) roleRef() roleRef {
	if k.cfg.Role != "" {
		return roleRef{APIGroup: rbacGroup, Kind: "Role", Name: k.cfg.Role}
	}
	return roleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: k.cfg.ClusterRole}
}

// meta is the labels and annotations of a grant's objects.
func (k *Kubernetes) meta(name, namespace string, req adapters.GrantRequest, expires time.Time) objectMeta {
	m := objectMeta{
		Name:      name,
		Namespace: namespace,
		Labels:    map[string]string{LabelManagedBy: managedBy, LabelGrant: req.GrantID},
		Annotations: map[string]string{
			AnnotationGrant:    req.GrantID,
			AnnotationResource: req.Resource,
			AnnotationPerson:   req.Subject.ID,
			AnnotationAccount:  req.Subject.Account,
			AnnotationExpires:  expires.UTC().Format(time.RFC3339),
		},
	}
	// A resource name is a label value unless it ends in '.', '_' or '-'.
	if r := req.Resource; r != "" && dns1123Label.MatchString(strings.ReplaceAll(strings.ReplaceAll(r, "_", "-"), ".", "-")) {
		m.Labels[LabelResource] = r
	}
	return m
}

// applyBindings applies the grant's bindings with subject as their one subject.
func (k *Kubernetes) applyBindings(ctx context.Context, req adapters.GrantRequest, subject rbacSubject, expires time.Time) ([]binding, error) {
	bs, err := k.bindings(req.GrantID)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		obj := roleBinding{
			typeMeta: typeMeta{APIVersion: rbacGroup + "/v1", Kind: "RoleBinding"},
			Metadata: k.meta(b.name, b.namespace, req, expires),
			RoleRef:  k.roleRef(),
			Subjects: []rbacSubject{subject},
		}
		if b.namespace == clusterScope {
			obj.Kind, obj.Metadata.Namespace = "ClusterRoleBinding", ""
		}
		if err := k.client.apply(ctx, b.path(), obj); err != nil {
			return nil, classify("apply "+b.String(), err)
		}
	}
	return bs, nil
}

// deleteBindings deletes the bindings the lease names and those the current config names for
// the grant (the namespaces may have changed since the grant).
func (k *Kubernetes) deleteBindings(ctx context.Context, req adapters.RevokeRequest) error {
	bs, err := k.bindings(req.GrantID)
	if err != nil {
		return err
	}
	bs = append(parseBindings(req.Data[leaseBindings]), bs...)
	seen := map[binding]bool{}
	for _, b := range bs {
		if seen[b] {
			continue
		}
		seen[b] = true
		if err := k.client.remove(ctx, b.path()); err != nil {
			return classify("delete "+b.String(), err)
		}
	}
	return nil
}

func formatBindings(bs []binding) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.namespace + "/" + b.name
	}
	return strings.Join(parts, ",")
}

// parseBindings reads formatBindings' output, keeping only well-formed entries: lease data is
// the adapter's own, but it has been through a database.
func parseBindings(s string) []binding {
	var out []binding
	for _, part := range strings.Split(s, ",") {
		ns, name, ok := strings.Cut(part, "/")
		if !ok || !dns1123Label.MatchString(name) || (ns != clusterScope && !dns1123Label.MatchString(ns)) {
			continue
		}
		out = append(out, binding{ns, name})
	}
	return out
}

// checkAccount refuses an account the API server could not name a subject by.
func checkAccount(account string) error {
	if account == "" {
		return adapters.Permanentf("the person has no account name for this cluster (set the resource's account template)")
	}
	if len(account) > maxAccountLength {
		return adapters.Permanentf("account name is longer than %d bytes", maxAccountLength)
	}
	for _, r := range account {
		if r < 0x20 || r == 0x7f {
			return adapters.Permanentf("account name %q has a control character", account)
		}
	}
	return nil
}

func (k *Kubernetes) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, k.cfg.Timeout)
}

// Grant binds the person's account (as a User or Group) to the role.
func (a *bindingAdapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if err := checkAccount(req.Subject.Account); err != nil {
		return adapters.Lease{}, err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	subject := rbacSubject{Kind: a.cfg.SubjectKind, APIGroup: rbacGroup, Name: req.Subject.Account}
	bs, err := a.applyBindings(ctx, req, subject, req.Expires)
	if err != nil {
		return adapters.Lease{}, err
	}
	return adapters.Lease{Data: map[string]string{leaseBindings: formatBindings(bs)}}, nil
}

// Revoke deletes the grant's bindings.
func (a *bindingAdapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	return a.deleteBindings(ctx, req)
}

// Extend moves the expiry annotation: the binding itself has no expiry the cluster enforces.
func (a *bindingAdapter) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	if err := checkAccount(req.Subject.Account); err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	g := adapters.GrantRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject, Expires: expires}
	subject := rbacSubject{Kind: a.cfg.SubjectKind, APIGroup: rbacGroup, Name: req.Subject.Account}
	_, err := a.applyBindings(ctx, g, subject, expires)
	return err
}

// serviceAccount is the path of the grant's ServiceAccount.
func (a *tokenAdapter) serviceAccountPath(name string) string {
	return "/api/v1/namespaces/" + a.cfg.ServiceAccountNamespace + "/serviceaccounts/" + name
}

// Grant makes the grant's ServiceAccount, binds it, and returns a kubeconfig with a token that
// expires when the grant does.
func (a *tokenAdapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	name, err := objectName(req.GrantID)
	if err != nil {
		return adapters.Lease{}, err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	ns := a.cfg.ServiceAccountNamespace
	sa := serviceAccount{
		typeMeta: typeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		Metadata: a.meta(name, ns, req, req.Expires),
		// The token is handed out by TokenRequest; no pod mounts this account's token.
		AutomountServiceAccountToken: new(bool),
	}
	if err := a.client.apply(ctx, a.serviceAccountPath(name), sa); err != nil {
		return adapters.Lease{}, classify("apply ServiceAccount "+ns+"/"+name, err)
	}
	subject := rbacSubject{Kind: serviceAccountKind, Name: name, Namespace: ns}
	bs, err := a.applyBindings(ctx, req, subject, req.Expires)
	if err != nil {
		return adapters.Lease{}, err
	}
	seconds := int64(math.Ceil(req.Expires.Sub(a.Now()).Seconds()))
	if seconds < minTokenSeconds {
		// The API refuses a shorter token; the revoke at expiry deletes the ServiceAccount, which
		// ends the token then.
		seconds = minTokenSeconds
	}
	tr := tokenRequest{typeMeta: typeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"}}
	tr.Spec.ExpirationSeconds = &seconds
	var out tokenRequest
	if err := a.client.create(ctx, a.serviceAccountPath(name)+"/token", tr, &out); err != nil {
		return adapters.Lease{}, classify("request a token for ServiceAccount "+ns+"/"+name, err)
	}
	if out.Status.Token == "" {
		return adapters.Lease{}, adapters.Retryablef("request a token for ServiceAccount %s/%s: the API server returned no token", ns, name)
	}
	until := out.Status.ExpirationTimestamp
	kubeconfig, err := a.kubeconfig(req, name, out.Status.Token)
	if err != nil {
		return adapters.Lease{}, adapters.PermanentError(fmt.Errorf("write the kubeconfig: %w", err))
	}
	label := fmt.Sprintf("kubeconfig for %s (token valid until %s)", req.Resource, until.UTC().Format(time.RFC3339))
	return adapters.Lease{
		Data: map[string]string{
			leaseBindings:       formatBindings(bs),
			leaseServiceAccount: ns + "/" + name,
			leaseTokenExpires:   until.UTC().Format(time.RFC3339),
		},
		Secret: &adapters.Secret{Kind: SecretKind, Label: label, Value: kubeconfig},
	}, nil
}

// kubeconfig is a kubeconfig with one cluster, one user (the token) and one context, whose
// namespace is the first of the configured ones.
func (a *tokenAdapter) kubeconfig(req adapters.GrantRequest, saName, token string) (string, error) {
	type namedCluster struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthorityData string `yaml:"certificate-authority-data,omitempty"`
		} `yaml:"cluster"`
	}
	type namedUser struct {
		Name string `yaml:"name"`
		User struct {
			Token string `yaml:"token"`
		} `yaml:"user"`
	}
	type namedContext struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster   string `yaml:"cluster"`
			User      string `yaml:"user"`
			Namespace string `yaml:"namespace,omitempty"`
		} `yaml:"context"`
	}
	name := "accessbot-" + req.Resource
	var c namedCluster
	c.Name, c.Cluster.Server = name, a.userServer
	if len(a.userCA) > 0 {
		c.Cluster.CertificateAuthorityData = base64.StdEncoding.EncodeToString(a.userCA)
	}
	var u namedUser
	u.Name, u.User.Token = saName, token
	var x namedContext
	x.Name, x.Context.Cluster, x.Context.User = name, name, saName
	if len(a.cfg.Namespaces) > 0 {
		x.Context.Namespace = a.cfg.Namespaces[0]
	}
	b, err := yaml.Marshal(struct {
		APIVersion     string         `yaml:"apiVersion"`
		Kind           string         `yaml:"kind"`
		Clusters       []namedCluster `yaml:"clusters"`
		Users          []namedUser    `yaml:"users"`
		Contexts       []namedContext `yaml:"contexts"`
		CurrentContext string         `yaml:"current-context"`
	}{"v1", "Config", []namedCluster{c}, []namedUser{u}, []namedContext{x}, name})
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Revoke deletes the ServiceAccount and the bindings. Without the bindings the token is refused
// as soon as the RBAC authorizer's watch sees the deletion (milliseconds); without its
// ServiceAccount the token stops authenticating at all once the API server's authentication
// cache lets it go (ten seconds in kube-apiserver).
func (a *tokenAdapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	name, err := objectName(req.GrantID)
	if err != nil {
		return err
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	// The ServiceAccount first: that alone ends the token.
	if err := a.client.remove(ctx, a.serviceAccountPath(name)); err != nil {
		return classify("delete ServiceAccount "+a.cfg.ServiceAccountNamespace+"/"+name, err)
	}
	return a.deleteBindings(ctx, req)
}

// Extend refuses: the token's expiry is signed into it. The person requests access again.
func (a *tokenAdapter) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	return adapters.PermanentError(fmt.Errorf("grant %s: %w; request access again for a new kubeconfig", req.GrantID, ErrCannotExtend))
}

// List returns every subject of every binding of the configured role in the configured
// namespaces (or cluster-wide), whoever made the binding.
func (k *Kubernetes) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := k.withTimeout(ctx)
	defer cancel()
	ref := k.roleRef()
	var out []adapters.Access
	add := func(where string, b roleBinding) {
		m, r, subjects := b.Metadata, b.RoleRef, b.Subjects
		if r.Kind != ref.Kind || r.Name != ref.Name {
			return
		}
		grant := ""
		if m.Labels[LabelManagedBy] == managedBy {
			grant = m.Labels[LabelGrant]
		}
		for _, s := range subjects {
			account := s.Name
			if s.Kind == serviceAccountKind {
				account = "system:serviceaccount:" + s.Namespace + ":" + s.Name
				// A token-mode grant's ServiceAccount stands for the person it was made for.
				if grant != "" && m.Annotations[AnnotationAccount] != "" {
					account = m.Annotations[AnnotationAccount]
				}
			}
			out = append(out, adapters.Access{
				Account: account,
				Detail:  fmt.Sprintf("%s %s (%s %s)", where, m.Name, s.Kind, s.Name),
				GrantID: grant,
			})
		}
	}
	if len(k.cfg.Namespaces) == 0 {
		var list roleBindingList
		if err := k.client.get(ctx, "/apis/"+rbacGroup+"/v1/clusterrolebindings", &list); err != nil {
			return nil, classify("list ClusterRoleBindings", err)
		}
		for _, b := range list.Items {
			add("ClusterRoleBinding", b)
		}
	}
	for _, ns := range k.cfg.Namespaces {
		var list roleBindingList
		if err := k.client.get(ctx, "/apis/"+rbacGroup+"/v1/namespaces/"+ns+"/rolebindings", &list); err != nil {
			return nil, classify("list RoleBindings in "+ns, err)
		}
		for _, b := range list.Items {
			add("RoleBinding "+ns+"/", b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Detail < out[j].Detail })
	return out, nil
}

// AttributesGrants says every binding the adapter makes carries its grant's ID (a label), so a
// binding of the role without one was made by someone else: the scan reports it even beside the
// person's own grant.
func (k *Kubernetes) AttributesGrants() bool { return true }

// permission is one thing the adapter needs to be allowed.
type permission struct {
	verb, group, resource, subresource, namespace, name string
}

func (p permission) String() string {
	res := p.resource
	if p.subresource != "" {
		res += "/" + p.subresource
	}
	if p.group != "" {
		res += "." + p.group
	}
	s := p.verb + " " + res
	if p.name != "" {
		s += " " + fmt.Sprintf("%q", p.name)
	}
	if p.namespace != "" {
		s += " in namespace " + p.namespace
	} else {
		s += " cluster-wide"
	}
	return s
}

// needs is every permission the configured mode uses.
func (k *Kubernetes) needs() []permission {
	var ps []permission
	bindVerbs := []string{"get", "list", "create", "patch", "delete"}
	roleResource, roleName := "clusterroles", k.cfg.ClusterRole
	if k.cfg.Role != "" {
		roleResource, roleName = "roles", k.cfg.Role
	}
	if len(k.cfg.Namespaces) == 0 {
		for _, v := range bindVerbs {
			ps = append(ps, permission{verb: v, group: rbacGroup, resource: "clusterrolebindings"})
		}
		ps = append(ps, permission{verb: "bind", group: rbacGroup, resource: roleResource, name: roleName})
	}
	for _, ns := range k.cfg.Namespaces {
		for _, v := range bindVerbs {
			ps = append(ps, permission{verb: v, group: rbacGroup, resource: "rolebindings", namespace: ns})
		}
		ps = append(ps, permission{verb: "bind", group: rbacGroup, resource: roleResource, namespace: ns, name: roleName})
	}
	if k.cfg.Mode == ModeToken {
		ns := k.cfg.ServiceAccountNamespace
		for _, v := range []string{"get", "create", "patch", "delete"} {
			ps = append(ps, permission{verb: v, resource: "serviceaccounts", namespace: ns})
		}
		ps = append(ps, permission{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: ns})
	}
	return ps
}

// Check asks the API server, with one SelfSubjectAccessReview per permission, whether accessbot
// may do everything its mode needs, and names what is missing.
func (k *Kubernetes) Check(ctx context.Context) error {
	ctx, cancel := k.withTimeout(ctx)
	defer cancel()
	var missing []string
	for _, p := range k.needs() {
		review := selfSubjectAccessReview{typeMeta: typeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}}
		review.Spec.ResourceAttributes = &resourceAttributes{
			Verb: p.verb, Group: p.group, Resource: p.resource, Subresource: p.subresource,
			Namespace: p.namespace, Name: p.name,
		}
		var out selfSubjectAccessReview
		if err := k.client.create(ctx, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, &out); err != nil {
			return classify("check accessbot's permissions (SelfSubjectAccessReview)", err)
		}
		if !out.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return adapters.Permanentf("accessbot's identity in the cluster lacks RBAC permission to %s", strings.Join(missing, "; "))
	}
	return nil
}

var (
	_ adapters.Attributor = (*bindingAdapter)(nil)
	_ adapters.Attributor = (*tokenAdapter)(nil)
	_ adapters.Lister     = (*bindingAdapter)(nil)
	_ adapters.Checker    = (*bindingAdapter)(nil)
	_ adapters.Extender   = (*bindingAdapter)(nil)
	_ adapters.Lister     = (*tokenAdapter)(nil)
	_ adapters.Checker    = (*tokenAdapter)(nil)
	_ adapters.Extender   = (*tokenAdapter)(nil)
)
