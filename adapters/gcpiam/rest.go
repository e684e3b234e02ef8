package gcpiam

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/accessbot/accessbot/internal/googleapi"
)

// The adapter speaks the three Resource Manager v3 IAM methods it needs itself, over net/http,
// rather than through google.golang.org/api: the generated client links gRPC, OpenTelemetry and
// cloud.google.com/go/auth into every accessbot process, about 4 MB of resident memory whether
// or not a gcp-iam resource is configured (BENCHMARKS.md, "4. Memory"). Credentials still come
// from Google's own library (golang.org/x/oauth2/google).

// DefaultEndpoint is the Cloud Resource Manager API's base URL.
const DefaultEndpoint = "https://cloudresourcemanager.googleapis.com/"

const (
	// maxResponse bounds what is read of one answer. A policy holds at most 1,500 members, well
	// under 1 MB as JSON.
	maxResponse = googleapi.MaxResponse
	// maxErrorText bounds the text of an answer that is not Google's error JSON (a proxy's HTML
	// page) carried into an error message.
	maxErrorText = googleapi.MaxErrorText
	userAgent    = "accessbot-gcp-iam"
)

// iamPolicy is an IAM allow policy as the v3 REST API sends it.
type iamPolicy struct {
	// Version is 1, or 3 when any binding has a condition.
	Version int `json:"version,omitempty"`
	// Bindings bind roles to members, each possibly under a condition.
	Bindings []*iamBinding `json:"bindings,omitempty"`
	// AuditConfigs are carried back as read: setIamPolicy without an update mask leaves them as
	// they are, and the adapter never looks inside.
	AuditConfigs json.RawMessage `json:"auditConfigs,omitempty"`
	// Etag is the policy's version stamp: a write that sends a stale one is refused (409).
	Etag string `json:"etag,omitempty"`
}

// iamBinding binds one role to members, possibly under a condition.
type iamBinding struct {
	// Role is "roles/<name>" or a custom role's full name.
	Role string `json:"role,omitempty"`
	// Members are principals: "user:<email>", "group:<email>", "serviceAccount:<email>", ...
	Members []string `json:"members,omitempty"`
	// Condition, if set, limits when the binding holds.
	Condition *iamExpr `json:"condition,omitempty"`
}

// iamExpr is an IAM condition: a CEL expression with a title and description. The title of
// accessbot's conditions names the grant.
type iamExpr struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Expression  string `json:"expression,omitempty"`
	// Location is what Google may set for its own messages; carried back as read.
	Location string `json:"location,omitempty"`
}

// getIamPolicyRequest is getIamPolicy's body: the adapter always asks for version 3, or Google
// would hide the conditions.
type getIamPolicyRequest struct {
	Options *getPolicyOptions `json:"options,omitempty"`
}

type getPolicyOptions struct {
	RequestedPolicyVersion int `json:"requestedPolicyVersion,omitempty"`
}

// setIamPolicyRequest is setIamPolicy's body. The adapter sends no update mask, as the
// generated client did: Google then sets bindings and etag only, which is all that changed.
type setIamPolicyRequest struct {
	Policy     *iamPolicy `json:"policy"`
	UpdateMask string     `json:"updateMask,omitempty"`
}

// testIamPermissionsRequest is testIamPermissions' body; the answer has the same shape, holding
// the permissions the caller has of those asked.
type testIamPermissionsRequest struct {
	Permissions []string `json:"permissions,omitempty"`
}

// googleError is Google's error answer (googleapi.Error).
type googleError = googleapi.Error

// restClient calls the IAM methods of one Resource Manager endpoint. The HTTP client adds the
// credentials (an oauth2 transport).
type restClient struct {
	api *googleapi.Client
}

// newRESTClient returns a client for base ("" for DefaultEndpoint), a base URL to which the
// method paths are appended.
func newRESTClient(base string, hc *http.Client) *restClient {
	return &restClient{api: googleapi.NewClient(base, DefaultEndpoint, hc, userAgent)}
}

// getIamPolicy reads resource's policy as version 3.
func (c *restClient) getIamPolicy(ctx context.Context, resource string) (*iamPolicy, error) {
	var p iamPolicy
	req := getIamPolicyRequest{Options: &getPolicyOptions{RequestedPolicyVersion: policyVersion}}
	if err := c.call(ctx, resource, "getIamPolicy", req, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// setIamPolicy writes p as resource's policy.
func (c *restClient) setIamPolicy(ctx context.Context, resource string, p *iamPolicy) error {
	return c.call(ctx, resource, "setIamPolicy", setIamPolicyRequest{Policy: p}, nil)
}

// testIamPermissions returns those of perms the caller holds on resource.
func (c *restClient) testIamPermissions(ctx context.Context, resource string, perms []string) ([]string, error) {
	var out testIamPermissionsRequest
	if err := c.call(ctx, resource, "testIamPermissions", testIamPermissionsRequest{Permissions: perms}, &out); err != nil {
		return nil, err
	}
	return out.Permissions, nil
}

// call POSTs in to resource's method and reads the answer into out.
func (c *restClient) call(ctx context.Context, resource, method string, in, out any) error {
	return c.api.Call(ctx, method, http.MethodPost, "v3/"+resource+":"+method, in, out)
}

// parseError reads an error answer (googleapi.ParseError).
func parseError(status int, body []byte) *googleError { return googleapi.ParseError(status, body) }
