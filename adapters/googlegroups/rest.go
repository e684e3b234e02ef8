package googlegroups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/accessbot/accessbot/internal/googleapi"
	"github.com/accessbot/accessbot/internal/ident"
)

// The adapter speaks the Cloud Identity Groups v1 methods it needs itself, over net/http,
// rather than through google.golang.org/api/cloudidentity/v1: the generated client links gRPC,
// OpenTelemetry and cloud.google.com/go/auth into every accessbot process, about 4 MB of
// resident memory whether or not a google-groups resource is configured (BENCHMARKS.md, "4.
// Memory"). Credentials come from Google's own library (golang.org/x/oauth2/google).

// DefaultEndpoint is the Cloud Identity API's base URL.
const DefaultEndpoint = "https://cloudidentity.googleapis.com/"

const (
	// maxErrorText bounds the text of an answer that is not Google's error JSON (a proxy's HTML
	// page) carried into an error message.
	maxErrorText = googleapi.MaxErrorText
	userAgent    = "accessbot-google-groups"
	// pageSize is the most memberships Google returns in one page of the FULL view.
	pageSize = 500
	// roleMember is the role every membership has; only it can carry an expiry.
	roleMember = "MEMBER"
	// expiryMask is the field mask modifyMembershipRoles needs to move an expiry.
	expiryMask = "expiryDetail.expire_time"
)

var (
	// groupNameRE is a group's resource name as Google returns it; it goes into paths, so
	// anything else is refused. Both patterns are compiled at first use.
	groupNameRE = sync.OnceValue(func() *ident.Pattern {
		return ident.New(`^groups/[A-Za-z0-9_-]{1,128}$`, `^groups/[A-Za-z0-9_-]+$`, 8, 135)
	})
	// membershipNameRE is a membership's resource name.
	membershipNameRE = sync.OnceValue(func() membershipName {
		return membershipName{regexp.MustCompile(`^groups/[A-Za-z0-9_-]+/memberships/[A-Za-z0-9_-]+$`)}
	})
)

// entityKey names a group or a member by email.
type entityKey struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace,omitempty"`
}

// expiryDetail is when a role ends; Google removes the membership then.
type expiryDetail struct {
	// ExpireTime is RFC 3339 in UTC.
	ExpireTime string `json:"expireTime,omitempty"`
}

// membershipRole is one role of a membership: MEMBER, MANAGER or OWNER.
type membershipRole struct {
	Name         string        `json:"name"`
	ExpiryDetail *expiryDetail `json:"expiryDetail,omitempty"`
}

// membership is a Membership resource.
type membership struct {
	// Name is "groups/<id>/memberships/<id>"; empty in a create request.
	Name               string           `json:"name,omitempty"`
	PreferredMemberKey entityKey        `json:"preferredMemberKey"`
	Roles              []membershipRole `json:"roles,omitempty"`
	// Type is USER, SERVICE_ACCOUNT, GROUP, SHARED_DRIVE or OTHER.
	Type       string `json:"type,omitempty"`
	CreateTime string `json:"createTime,omitempty"`
}

// memberRole returns the MEMBER role, which every membership has.
func (m *membership) memberRole() *membershipRole {
	for i := range m.Roles {
		if m.Roles[i].Name == roleMember {
			return &m.Roles[i]
		}
	}
	return nil
}

// operation is a long-running operation: create and delete return one, usually done at once.
type operation struct {
	Name     string          `json:"name,omitempty"`
	Done     bool            `json:"done"`
	Response json.RawMessage `json:"response,omitempty"`
	Error    *googleError    `json:"error,omitempty"`
}

// lookupResponse is what groups:lookup and memberships:lookup return.
type lookupResponse struct {
	Name string `json:"name"`
}

// listMembershipsResponse is one page of memberships.
type listMembershipsResponse struct {
	Memberships   []membership `json:"memberships"`
	NextPageToken string       `json:"nextPageToken"`
}

// updateMembershipRolesParams changes one role's fields named by the mask.
type updateMembershipRolesParams struct {
	FieldMask      string         `json:"fieldMask"`
	MembershipRole membershipRole `json:"membershipRole"`
}

// modifyMembershipRolesRequest is modifyMembershipRoles' body; the adapter only updates.
type modifyMembershipRolesRequest struct {
	UpdateRolesParams []updateMembershipRolesParams `json:"updateRolesParams"`
}

// modifyMembershipRolesResponse carries the membership as changed.
type modifyMembershipRolesResponse struct {
	Membership membership `json:"membership"`
}

// googleError is Google's error answer (googleapi.Error).
type googleError = googleapi.Error

// restClient calls the Groups methods of one Cloud Identity endpoint. The HTTP client adds the
// credentials (an oauth2 transport).
type restClient struct {
	api *googleapi.Client
}

// newRESTClient returns a client for base ("" for DefaultEndpoint), a base URL to which the
// method paths are appended.
func newRESTClient(base string, hc *http.Client) *restClient {
	return &restClient{api: googleapi.NewClient(base, DefaultEndpoint, hc, userAgent)}
}

// lookupGroup returns the resource name of the group with email groupEmail.
func (c *restClient) lookupGroup(ctx context.Context, groupEmail string) (string, error) {
	var out lookupResponse
	q := url.Values{"groupKey.id": {groupEmail}}
	if err := c.call(ctx, "groups:lookup", http.MethodGet, "v1/groups:lookup?"+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	if !groupNameRE().MatchString(out.Name) {
		return "", fmt.Errorf("groups:lookup: Google named the group %q, which is not a group's resource name", out.Name)
	}
	return out.Name, nil
}

// lookupMembership returns the resource name of memberEmail's membership of group.
func (c *restClient) lookupMembership(ctx context.Context, group, memberEmail string) (string, error) {
	var out lookupResponse
	q := url.Values{"memberKey.id": {memberEmail}}
	if err := c.call(ctx, "memberships:lookup", http.MethodGet, "v1/"+group+"/memberships:lookup?"+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	if !membershipNameRE().MatchString(out.Name) || !strings.HasPrefix(out.Name, group+"/") {
		return "", fmt.Errorf("memberships:lookup: Google named the membership %q, which is not a membership of %s", out.Name, group)
	}
	return out.Name, nil
}

// getMembership reads a membership by its resource name.
func (c *restClient) getMembership(ctx context.Context, name string) (*membership, error) {
	var out membership
	if err := c.call(ctx, "memberships.get", http.MethodGet, "v1/"+name, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// createMembership adds m to group.
func (c *restClient) createMembership(ctx context.Context, group string, m *membership) (*operation, error) {
	var out operation
	if err := c.call(ctx, "memberships.create", http.MethodPost, "v1/"+group+"/memberships", m, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// setExpiry moves the MEMBER role's expiry of the membership name to expireTime.
func (c *restClient) setExpiry(ctx context.Context, name, expireTime string) (*membership, error) {
	in := modifyMembershipRolesRequest{UpdateRolesParams: []updateMembershipRolesParams{{
		FieldMask:      expiryMask,
		MembershipRole: membershipRole{Name: roleMember, ExpiryDetail: &expiryDetail{ExpireTime: expireTime}},
	}}}
	var out modifyMembershipRolesResponse
	if err := c.call(ctx, "memberships.modifyMembershipRoles", http.MethodPost, "v1/"+name+":modifyMembershipRoles", in, &out); err != nil {
		return nil, err
	}
	return &out.Membership, nil
}

// deleteMembership removes the membership name.
func (c *restClient) deleteMembership(ctx context.Context, name string) (*operation, error) {
	var out operation
	if err := c.call(ctx, "memberships.delete", http.MethodDelete, "v1/"+name, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// listMemberships returns one page of group's memberships in the FULL view (which carries the
// roles' expiry).
func (c *restClient) listMemberships(ctx context.Context, group, pageToken string) (*listMembershipsResponse, error) {
	q := url.Values{"view": {"FULL"}, "pageSize": {fmt.Sprint(pageSize)}}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	var out listMembershipsResponse
	if err := c.call(ctx, "memberships.list", http.MethodGet, "v1/"+group+"/memberships?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// call sends verb to path with in (if any) and reads the answer into out.
func (c *restClient) call(ctx context.Context, method, verb, path string, in, out any) error {
	return c.api.Call(ctx, method, verb, path, in, out)
}

// grpcToHTTP maps the gRPC codes an operation's error may carry to the HTTP status Google uses
// for the same code, so one classification serves both.
var grpcToHTTP = map[int]int{
	3: http.StatusBadRequest, 5: http.StatusNotFound, 6: http.StatusConflict, 7: http.StatusForbidden,
	8: http.StatusTooManyRequests, 9: http.StatusBadRequest, 14: http.StatusServiceUnavailable,
	16: http.StatusUnauthorized, 13: http.StatusInternalServerError, 4: http.StatusGatewayTimeout,
}

// operationError turns a finished operation's error into a googleError with an HTTP code.
func operationError(op *operation) error {
	if op.Error == nil {
		return nil
	}
	e := *op.Error
	if code, ok := grpcToHTTP[e.Code]; ok {
		e.Code = code
	} else {
		e.Code = http.StatusInternalServerError
	}
	return &e
}

// isStatus reports whether err is Google's answer with HTTP status code.
func isStatus(err error, code int) bool {
	var ge *googleError
	return errors.As(err, &ge) && ge.Code == code
}

// membershipName is ^groups/[A-Za-z0-9_-]{1,128}/memberships/[A-Za-z0-9_-]{1,128}$: its
// expression without the counts and a bound on each ID (internal/ident says why).
type membershipName struct{ re *regexp.Regexp }

// MatchString reports whether s is a membership's resource name with IDs of 1 to 128 characters.
func (m membershipName) MatchString(s string) bool {
	if !m.re.MatchString(s) {
		return false
	}
	parts := strings.Split(s, "/") // groups, the group's ID, memberships, the membership's ID
	return len(parts[1]) <= 128 && len(parts[3]) <= 128
}
