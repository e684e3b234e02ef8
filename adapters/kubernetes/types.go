package kubernetes

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The handful of API objects the adapter reads and writes, as their JSON looks on the wire
// (rbac.authorization.k8s.io/v1, v1, authentication.k8s.io/v1, authorization.k8s.io/v1), with
// only the fields it uses. They are declared here rather than imported from k8s.io/api: those
// packages build hundreds of documentation maps and protobuf registrations when the program
// starts, whether or not a kubernetes resource is configured, which costs every accessbot
// process several megabytes of resident memory for five kinds of object.

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
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	RoleRef         roleRef           `json:"roleRef"`
	Subjects        []rbacSubject     `json:"subjects,omitempty"`
}

type roleBindingList struct {
	Items []roleBinding `json:"items"`
}

type serviceAccount struct {
	metav1.TypeMeta              `json:",inline"`
	Metadata                     metav1.ObjectMeta `json:"metadata"`
	AutomountServiceAccountToken *bool             `json:"automountServiceAccountToken,omitempty"`
}

type tokenRequest struct {
	metav1.TypeMeta `json:",inline"`
	Spec            struct {
		ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	} `json:"spec"`
	Status struct {
		Token               string      `json:"token"`
		ExpirationTimestamp metav1.Time `json:"expirationTimestamp"`
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
	metav1.TypeMeta `json:",inline"`
	Spec            struct {
		ResourceAttributes *resourceAttributes `json:"resourceAttributes"`
	} `json:"spec"`
	Status struct {
		Allowed bool `json:"allowed"`
	} `json:"status"`
}
