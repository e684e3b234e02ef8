package gcpiam

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
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
	maxResponse = 4 << 20
	// maxErrorText bounds the text of an answer that is not Google's error JSON (a proxy's HTML
	// page) carried into an error message.
	maxErrorText = 200
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

// googleError is Google's error answer: {"error":{"code","message","status","details"}}. An
// answer that is not that JSON (a proxy's page) becomes a googleError with the HTTP status as its code
// and the start of its text as the message.
type googleError struct {
	// Code is the HTTP status.
	Code int `json:"code"`
	// Message is Google's own words.
	Message string `json:"message"`
	// Status is the google.rpc.Code name ("PERMISSION_DENIED", "ABORTED", ...).
	Status string `json:"status"`
	// Details are Google's typed details (ErrorInfo, QuotaFailure, ...), kept as sent.
	Details []json.RawMessage `json:"details,omitempty"`
}

// Error says the status and Google's message.
func (e *googleError) Error() string {
	s := fmt.Sprintf("Google answered %d", e.Code)
	if e.Status != "" {
		s += " " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// restClient calls the IAM methods of one Resource Manager endpoint. The HTTP client adds the
// credentials (an oauth2 transport).
type restClient struct {
	base string
	http *http.Client
}

// newRESTClient returns a client for base ("" for DefaultEndpoint), which is a base URL: the
// method paths ("v3/projects/p:getIamPolicy") are appended to it.
func newRESTClient(base string, hc *http.Client) *restClient {
	if base == "" {
		base = DefaultEndpoint
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &restClient{base: base, http: hc}
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

// call POSTs in as JSON to v3/{resource}:{method} and decodes a 200's body into out (if not
// nil). resource has been validated (Config.Validate), so it goes into the path as it is, its
// slash included, as the API's {+resource} template says.
func (c *restClient) call(ctx context.Context, resource, method string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode the %s request: %w", method, err)
	}
	url := c.base + "v3/" + resource + ":" + method + "?alt=json&prettyPrint=false"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the %s request: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", method, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s: the answer is larger than %d bytes", method, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return parseError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", method, err)
	}
	return nil
}

// parseError reads Google's error answer, or makes one from a status and a body that is not
// Google's error JSON.
func parseError(status int, body []byte) *googleError {
	var wrapped struct {
		Error *googleError `json:"error"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil && (wrapped.Error.Message != "" || wrapped.Error.Code != 0) {
		e := wrapped.Error
		// The HTTP status decides what the adapter does; the body's code is the same number
		// in every answer Google documents.
		e.Code = status
		return e
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > maxErrorText {
		text = text[:maxErrorText]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
		text += "…"
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return &googleError{Code: status, Message: text}
}
