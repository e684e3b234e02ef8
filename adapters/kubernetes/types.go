package kubernetes

import "time"

// The handful of API objects the adapter reads and writes, as their JSON looks on the wire
// (rbac.authorization.k8s.io/v1, v1, authentication.k8s.io/v1, authorization.k8s.io/v1), with
// only the fields it uses. They are declared here rather than imported from k8s.io/api and
// k8s.io/apimachinery: those packages build hundreds of documentation maps, protobuf and scheme
// registrations when the program starts, whether or not a kubernetes resource is configured,
// which costs every accessbot process megabytes of resident memory for five kinds of object.

// typeMeta is an object's apiVersion and kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// objectMeta is the part of an object's metadata the adapter writes or reads.
type objectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

type roleRef struct {
	APIGroup string `json:"apiGroup"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
}

// rbacSubject is an RBAC subject: a User, a Group or a ServiceAccount.
type rbacSubject struct {
	Kind      string `json:"kind"`
	APIGroup  string `json:"apiGroup,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

const serviceAccountKind = "ServiceAccount"

// roleBinding is a RoleBinding or a ClusterRoleBinding: they differ only in kind and scope.
type roleBinding struct {
	typeMeta
	Metadata objectMeta    `json:"metadata"`
	RoleRef  roleRef       `json:"roleRef"`
	Subjects []rbacSubject `json:"subjects,omitempty"`
}

type roleBindingList struct {
	Items []roleBinding `json:"items"`
}

type serviceAccount struct {
	typeMeta
	Metadata                     objectMeta `json:"metadata"`
	AutomountServiceAccountToken *bool      `json:"automountServiceAccountToken,omitempty"`
}

type tokenRequest struct {
	typeMeta
	Spec struct {
		ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	} `json:"spec"`
	Status struct {
		Token               string    `json:"token"`
		ExpirationTimestamp time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

type resourceAttributes struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb"`
	Group       string `json:"group,omitempty"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Name        string `json:"name,omitempty"`
}

type selfSubjectAccessReview struct {
	typeMeta
	Spec struct {
		ResourceAttributes *resourceAttributes `json:"resourceAttributes"`
	} `json:"spec"`
	Status struct {
		Allowed bool `json:"allowed"`
	} `json:"status"`
}
