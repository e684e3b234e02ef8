package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/accessbot/accessbot/adapters"
)

// fieldManager is the name server-side apply records as the owner of the fields accessbot sets.
const fieldManager = "accessbot"

// client talks to one API server through client-go's REST client, with a scheme that knows only
// the handful of types the adapter reads and writes. The generated clientset would register
// every API group of Kubernetes in the process (tens of megabytes of memory for a bot that
// touches five kinds), and it would do so even for a configuration without a kubernetes
// resource; this client is built only when a resource uses the adapter.
type client struct {
	rest *rest.RESTClient
	// host and caData are what token mode writes into a person's kubeconfig by default.
	host   string
	caData []byte
}

// restConfig loads the client config: the kubeconfig file and context, or the pod's in-cluster
// config. It reads files but does not contact the cluster.
func restConfig(c *Config) (*rest.Config, error) {
	if c.Kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig set and not running in a cluster: %v", err)
		}
		return rc, nil
	}
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", c.Kubeconfig, errors.Unwrap(err))
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %v", c.Kubeconfig, err)
	}
	return rc, nil
}

// newClient builds the REST client for rc.
func newClient(rc *rest.Config, c *Config) (*client, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		rbacv1.AddToScheme, corev1.AddToScheme, authorizationv1.AddToScheme, authenticationv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("register API types: %w", err)
		}
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	cfg := rest.CopyConfig(rc)
	cfg.APIPath = "/apis"
	cfg.ContentType = runtime.ContentTypeJSON
	cfg.AcceptContentTypes = runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	cfg.QPS, cfg.Burst = c.QPS, c.Burst
	cfg.UserAgent = "accessbot"
	if cfg.Timeout == 0 {
		cfg.Timeout = c.Timeout
	}
	rc2, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	cl := &client{rest: rc2, host: rc.Host, caData: rc.CAData}
	if len(cl.caData) == 0 && rc.CAFile != "" {
		if cl.caData, err = os.ReadFile(rc.CAFile); err != nil {
			return nil, fmt.Errorf("read the cluster's CA file: %v", errors.Unwrap(err))
		}
	}
	return cl, nil
}

// apply sends obj with server-side apply, owned by accessbot's field manager and taking over
// any field another manager set (force), so that a rerun converges on the same object.
func (cl *client) apply(ctx context.Context, path string, obj any, into runtime.Object) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return cl.rest.Patch(types.ApplyPatchType).AbsPath(path).
		Param("fieldManager", fieldManager).Param("force", "true").
		Body(body).Do(ctx).Into(into)
}

// remove deletes the object at path; one already gone is not an error.
func (cl *client) remove(ctx context.Context, path string) error {
	policy := metav1.DeletePropagationBackground
	body, _ := json.Marshal(metav1.DeleteOptions{PropagationPolicy: &policy})
	err := cl.rest.Delete().AbsPath(path).Body(body).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (cl *client) get(ctx context.Context, path string, into runtime.Object, params map[string]string) error {
	r := cl.rest.Get().AbsPath(path)
	for k, v := range params {
		r = r.Param(k, v)
	}
	return r.Do(ctx).Into(into)
}

func (cl *client) create(ctx context.Context, path string, obj any, into runtime.Object) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return cl.rest.Post().AbsPath(path).Body(body).Do(ctx).Into(into)
}

// classify turns an API error into an adapter error of the right kind, in words that say what
// was being done. Throttling (429), the server's own errors and timeouts, conflicts and network
// errors are worth retrying (client-go has already honoured Retry-After); a refusal, an invalid
// object or a missing namespace is not.
func classify(doing string, err error) error {
	if err == nil {
		return nil
	}
	msg := fmt.Errorf("%s: %w", doing, err)
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return adapters.RetryableError(msg)
	case apierrors.IsForbidden(err):
		return adapters.PermanentError(fmt.Errorf("%s: the API server refused: %s (give accessbot's identity that permission: see the README's kubernetes RBAC)", doing, apiMessage(err)))
	case apierrors.IsUnauthorized(err):
		return adapters.PermanentError(fmt.Errorf("%s: the API server does not accept accessbot's credentials: %s", doing, apiMessage(err)))
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err):
		return adapters.PermanentError(fmt.Errorf("%s: %s", doing, apiMessage(err)))
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsConflict(err),
		apierrors.IsUnexpectedServerError(err):
		return adapters.RetryableError(msg)
	case errors.As(err, &netErr):
		return adapters.RetryableError(msg)
	}
	return adapters.RetryableError(msg)
}

// apiMessage is the API server's message for err, without client-go's prefixes.
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return strings.TrimSpace(err.Error())
}

// readFile reads a file the config names, with an error that says which without Go's prefixes.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	return b, nil
}
