// Package helm holds no code: its tests check the Helm chart beside them (accessbot/). They run
// `helm lint` over it with the default values and with each file under accessbot/ci/, render it
// with `helm template` and read what could break from the manifests (the pods' security context,
// the probes, the config's mount, that no Secret or secret value is rendered, the replicas rule,
// the kubernetes adapter's RBAC, rule by rule), load the rendered config as accessbot loads it,
// and send every rendered object to a real API server (internal/kubetest): a server-side dry run
// that the server itself validates, in a namespace that enforces the restricted Pod Security
// Standard, and the RBAC applied for real, with SubjectAccessReviews and requests as the chart's
// ServiceAccount proving it may do exactly what the adapter needs; the kubernetes adapter itself,
// as that ServiceAccount, passes its start-up check and grants and revokes. The ServiceMonitor is
// not sent: the throwaway server has no Prometheus Operator CRD.
//
// helm is built by .ci/helm (a pinned version, from the Go module proxy) into the tools cache;
// without it the tests skip, or fail under CI.
package helm
