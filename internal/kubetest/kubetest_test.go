package kubetest

import (
	"net/http"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestTheServerAuthenticatesByTokenAndAuthorizesByRBACOnly(t *testing.T) {
	srv := Shared(t)
	if status, body := srv.Do(t, Admin, http.MethodGet, "/apis/rbac.authorization.k8s.io/v1/clusterroles/view", nil); status != http.StatusOK {
		t.Fatalf("the admin cannot read the bootstrap ClusterRole view: %d %s", status, body)
	}
	if status, _ := srv.Do(t, Alice, http.MethodGet, "/api/v1/namespaces/default/pods", nil); status != http.StatusForbidden {
		t.Fatalf("a person with no binding lists pods: %d, want 403", status)
	}
	if status, _ := srv.DoToken(t, "not-a-token", http.MethodGet, "/api/v1/namespaces/default/pods", nil); status != http.StatusUnauthorized {
		t.Fatalf("an unknown token: %d, want 401", status)
	}
	if srv.Can(t, Bob, nil, "list", "pods", "default") {
		t.Fatal("SubjectAccessReview says a person with no binding may list pods")
	}
	if !srv.Can(t, Admin, []string{"system:masters"}, "delete", "clusterrolebindings.rbac.authorization.k8s.io", "") {
		t.Fatal("SubjectAccessReview says system:masters may not delete ClusterRoleBindings")
	}
}
