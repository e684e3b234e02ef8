// Package gcpiam is the adapter for Google Cloud IAM: a grant is a conditional role binding in
// the IAM policy of a project, folder or organization, through the Cloud Resource Manager v3
// REST API.
//
// Each grant's binding binds the configured role to the person (user:<email>, or group:<email>)
// with an IAM condition `request.time < timestamp("<expiry>")` whose title names the grant. So
// Google itself ends the access at expiry even when accessbot is down (the second lock), and
// the title finds the binding again for a revoke or an extension without lease data.
//
// An IAM policy is one document shared with every other writer (Terraform, the console, other
// tools), so every change is a read-modify-write with the policy's etag: a write that lost a
// race (409 ABORTED) is redone from a fresh read, and only the grant's own binding is ever
// added, changed or removed. Bindings accessbot did not make pass through untouched.
package gcpiam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/googleapi"
	"github.com/accessbot/accessbot/internal/ident"
)

const (
	// TitlePrefix starts the condition title of every binding accessbot makes; the grant ID
	// follows it.
	TitlePrefix = "accessbot "
	// cloudPlatformScope is the OAuth scope asked of Application Default Credentials; what
	// the identity may do is decided by its IAM roles, not by the scope.
	cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// policyVersion is the policy version that may hold conditions: it is requested on every
	// read and written on every write, or Google would refuse (or, read as version 1, hide)
	// the conditions.
	policyVersion = 3
	// maxDescription is the longest condition description Google accepts.
	maxDescription = 256
	// maxAccount bounds an email address (RFC 5321).
	maxAccount = 254

	leaseRole   = "role"
	leaseMember = "member"
	leaseTitle  = "condition_title"
)

// expressionRE reads back the expression the adapter writes.
var expressionRE = regexp.MustCompile(`^request\.time < timestamp\("([^"]+)"\)$`)

// grantIDRE is what the adapter puts in a condition title: accessbot's grant IDs, with room to
// spare under Google's 100-character title.
var grantIDRE = ident.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`, `^[A-Za-z0-9][A-Za-z0-9._-]*$`, 1, 80)

// emailRE is what the adapter accepts as a Google account or group email.
var emailRE = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

func init() {
	adapters.Register(adapters.Type{
		Name:      "gcp-iam",
		Doc:       "binds a Google Cloud IAM role to the person on a project, folder or organization with a condition that ends it at expiry",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter. It contacts nothing: the credentials (Application Default
// Credentials) are found on first use.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(*c, env.Log)
}

// GCP is the adapter. It is safe for concurrent use.
type GCP struct {
	cfg  Config
	log  zerolog.Logger
	kind string

	mu sync.Mutex
	// httpClient adds the credentials to each call; nil until first use unless an Option gave
	// one.
	httpClient *http.Client
	svc        *restClient

	// Now returns the current time; time.Now unless a test replaces it before first use. The
	// lister uses it to leave out accessbot's bindings whose condition has already ended.
	Now func() time.Time
	// Wait waits before the next try after the attempt-th failure (from 1), or returns the
	// context's error. By default it sleeps an exponential backoff with jitter; tests replace it
	// before first use so that retries take no time.
	Wait func(ctx context.Context, attempt int) error
}

// Option changes how New builds the adapter.
type Option func(*GCP)

// WithHTTPClient makes the adapter call Google through hc, which must add the credentials
// itself (an oauth2 transport), instead of finding Application Default Credentials.
func WithHTTPClient(hc *http.Client) Option {
	return func(g *GCP) { g.httpClient = hc }
}

// WithTokenSource makes the adapter authenticate with ts's tokens instead of Application
// Default Credentials.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return WithHTTPClient(googleapi.TokenSourceClient(ts))
}

// New returns the adapter for cfg. Without options its credentials are Application Default
// Credentials, found on first use.
func New(cfg Config, log zerolog.Logger, opts ...Option) (*GCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kind, _, _ := parseResource(cfg.Resource)
	g := &GCP{cfg: cfg, log: log, kind: kind, Now: time.Now}
	for _, o := range opts {
		o(g)
	}
	g.Wait = googleapi.Backoff
	return g, nil
}

// service returns the REST client, building it on first use: building it looks for
// credentials, which New must not do.
func (g *GCP) service(ctx context.Context) (*restClient, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.svc != nil {
		return g.svc, nil
	}
	hc := g.httpClient
	if hc == nil {
		var err error
		if hc, err = googleapi.DefaultClient(ctx, cloudPlatformScope, g.cfg.Timeout); err != nil {
			return nil, adapters.RetryableError(err)
		}
	}
	g.svc = newRESTClient(g.cfg.Endpoint, hc)
	return g.svc, nil
}

func (g *GCP) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.Timeout)
}

// Title is the condition title of a grant's binding.
func Title(grantID string) string { return TitlePrefix + grantID }

// grantOf returns the grant ID a condition title names, if accessbot wrote it.
func grantOf(c *iamExpr) (string, bool) {
	if c == nil || !strings.HasPrefix(c.Title, TitlePrefix) {
		return "", false
	}
	id := strings.TrimPrefix(c.Title, TitlePrefix)
	return id, id != ""
}

// Expression is the condition that ends a grant's binding at expires: the grant's expiry to the
// second, earlier rather than later.
func Expression(expires time.Time) string {
	return fmt.Sprintf("request.time < timestamp(%q)", expires.UTC().Truncate(time.Second).Format(time.RFC3339))
}

// expiryOf reads the expiry back out of an expression the adapter wrote.
func expiryOf(expr string) (time.Time, bool) {
	m := expressionRE.FindStringSubmatch(expr)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, m[1])
	return t, err == nil
}

// member is how the policy names the subject.
func (g *GCP) member(s adapters.Subject) (string, error) {
	a := s.Account
	if a == "" {
		return "", adapters.Permanentf("the person has no Google account email for this resource (set the resource's account template)")
	}
	if len(a) > maxAccount || !emailRE.MatchString(a) {
		return "", adapters.Permanentf("account %q is not an email address, which is how Google names a %s", a, g.cfg.Member)
	}
	return g.cfg.Member + ":" + a, nil
}

// checkGrantID refuses a grant ID that could not title a condition.
func checkGrantID(id string) error {
	if !grantIDRE.MatchString(id) {
		return adapters.Permanentf("grant ID %q cannot title an IAM condition", id)
	}
	return nil
}

// condition is the IAM condition of a grant's binding.
func (g *GCP) condition(grantID string, s adapters.Subject, resource string, expires time.Time) *iamExpr {
	person := s.ID
	if person == "" {
		person = s.Account
	}
	desc := fmt.Sprintf("accessbot grant %s of %s to %s", grantID, resource, person)
	for len(desc) > maxDescription {
		_, size := utf8.DecodeLastRuneInString(desc)
		desc = desc[:len(desc)-size]
	}
	return &iamExpr{Title: Title(grantID), Description: desc, Expression: Expression(expires)}
}

// Grant adds the grant's conditional binding, unless a binding with its title is there already.
func (g *GCP) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	member, err := g.member(req.Subject)
	if err != nil {
		return adapters.Lease{}, err
	}
	if err := checkGrantID(req.GrantID); err != nil {
		return adapters.Lease{}, err
	}
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	title := Title(req.GrantID)
	err = g.modify(ctx, "grant "+req.GrantID, func(p *iamPolicy) bool {
		for _, b := range p.Bindings {
			if b.Condition != nil && b.Condition.Title == title {
				return false
			}
		}
		p.Bindings = append(p.Bindings, &iamBinding{
			Role:      g.cfg.Role,
			Members:   []string{member},
			Condition: g.condition(req.GrantID, req.Subject, req.Resource, req.Expires),
		})
		return true
	})
	if err != nil {
		return adapters.Lease{}, err
	}
	return adapters.Lease{Data: map[string]string{leaseRole: g.cfg.Role, leaseMember: member, leaseTitle: title}}, nil
}

// Revoke removes the grant's binding (every binding whose condition carries the grant's title,
// whatever its role, so a role changed in the config since the grant is still removed). A
// binding already gone is success.
func (g *GCP) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if err := checkGrantID(req.GrantID); err != nil {
		return err
	}
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	title := Title(req.GrantID)
	return g.modify(ctx, "revoke grant "+req.GrantID, func(p *iamPolicy) bool {
		kept := p.Bindings[:0:0]
		for _, b := range p.Bindings {
			if b.Condition == nil || b.Condition.Title != title {
				kept = append(kept, b)
			}
		}
		changed := len(kept) != len(p.Bindings)
		p.Bindings = kept
		return changed
	})
}

// Extend moves the grant's condition to the new expiry. A binding that is missing is added
// again: the grant is active, so its access should be there.
func (g *GCP) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	member, err := g.member(req.Subject)
	if err != nil {
		return err
	}
	if err := checkGrantID(req.GrantID); err != nil {
		return err
	}
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	cond := g.condition(req.GrantID, req.Subject, req.Resource, expires)
	return g.modify(ctx, "extend grant "+req.GrantID, func(p *iamPolicy) bool {
		found, changed := false, false
		for _, b := range p.Bindings {
			if b.Condition == nil || b.Condition.Title != cond.Title {
				continue
			}
			found = true
			if b.Condition.Expression != cond.Expression {
				b.Condition.Expression, b.Condition.Description = cond.Expression, cond.Description
				changed = true
			}
		}
		if !found {
			p.Bindings = append(p.Bindings, &iamBinding{Role: g.cfg.Role, Members: []string{member}, Condition: cond})
			changed = true
		}
		return changed
	})
}

// List returns every member of every binding of the role: accessbot's bindings carry their
// grant ID; unconditional bindings and bindings under another condition are access no grant
// explains. accessbot's bindings whose condition has ended are left out: Google no longer
// honours them.
func (g *GCP) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, err := g.service(ctx)
	if err != nil {
		return nil, err
	}
	p, err := g.read(ctx, svc)
	if err != nil {
		return nil, classify("list the bindings of "+g.cfg.Role+" on "+g.cfg.Resource, err)
	}
	now := g.Now()
	var out []adapters.Access
	for _, b := range p.Bindings {
		if b.Role != g.cfg.Role {
			continue
		}
		detail := b.Role + " on " + g.cfg.Resource
		grantID, ours := grantOf(b.Condition)
		switch {
		case ours:
			if until, ok := expiryOf(b.Condition.Expression); ok {
				if !now.Before(until) {
					continue
				}
				detail += " until " + until.UTC().Format(time.RFC3339)
			}
		case b.Condition != nil:
			detail += fmt.Sprintf(" if %q", b.Condition.Expression)
		}
		for _, m := range b.Members {
			out = append(out, adapters.Access{Account: g.account(m), Detail: detail, GrantID: grantID})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out, nil
}

// AttributesGrants says every binding the adapter makes names its grant (the condition's title),
// so a binding of the role without one was made by someone else: the scan reports it even for a
// person who holds an active grant.
func (g *GCP) AttributesGrants() bool { return true }

// Holds reports whether the person holds the role on the resource already without any
// condition: a standing binding accessbot did not make, which a grant would add nothing to and
// a revoke never touches. A binding under someone else's condition is not counted, because
// accessbot cannot tell when that condition holds.
func (g *GCP) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	member, err := g.member(s)
	if err != nil {
		return false, err
	}
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, err := g.service(ctx)
	if err != nil {
		return false, err
	}
	p, err := g.read(ctx, svc)
	if err != nil {
		return false, classify("check for a standing binding of "+g.cfg.Role+" on "+g.cfg.Resource, err)
	}
	for _, b := range p.Bindings {
		if b.Role == g.cfg.Role && b.Condition == nil && slices.Contains(b.Members, member) {
			return true, nil
		}
	}
	return false, nil
}

// account is the account name of a policy member: the email for the configured member kind,
// the whole member string for any other kind (a service account, a domain).
func (g *GCP) account(member string) string {
	if a, ok := strings.CutPrefix(member, g.cfg.Member+":"); ok {
		return a
	}
	return member
}

// Permissions returns the IAM permissions accessbot's identity needs on a resource of kind
// ("projects", "folders", "organizations"): reading and writing its IAM policy, nothing more.
func Permissions(kind string) []string {
	noun := map[string]string{kindProject: "projects", kindFolder: "folders", kindOrganization: "organizations"}[kind]
	if noun == "" {
		return nil
	}
	return []string{"resourcemanager." + noun + ".getIamPolicy", "resourcemanager." + noun + ".setIamPolicy"}
}

// Check asks Google (testIamPermissions, which needs no permission itself) whether accessbot's
// identity holds every permission the adapter uses on the resource, and names what is missing.
func (g *GCP) Check(ctx context.Context) error {
	ctx, cancel := g.withTimeout(ctx)
	defer cancel()
	svc, err := g.service(ctx)
	if err != nil {
		return err
	}
	want := Permissions(g.kind)
	var held []string
	err = g.retrying(ctx, func(ctx context.Context) error {
		var err error
		held, err = svc.testIamPermissions(ctx, g.cfg.Resource, want)
		return err
	})
	if err != nil {
		return classify("check accessbot's permissions on "+g.cfg.Resource+" (testIamPermissions)", err)
	}
	have := map[string]bool{}
	for _, p := range held {
		have[p] = true
	}
	var missing []string
	for _, p := range want {
		if !have[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return adapters.Permanentf("accessbot's Google identity lacks %s on %s (grant it a role with these permissions; see the README's gcp-iam section)", strings.Join(missing, " and "), g.cfg.Resource)
	}
	return nil
}

// modify is one read-modify-write of the policy: change edits the policy as read and says
// whether it changed anything; a changed policy is written back with the etag read, as version
// 3. A write that lost a race with another writer (409 ABORTED: the etag is stale) starts over
// from a fresh read, at most MaxAttempts rounds, so the other writer's change is never
// overwritten.
func (g *GCP) modify(ctx context.Context, doing string, change func(*iamPolicy) bool) error {
	svc, err := g.service(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	for round := 1; ; round++ {
		p, err := g.read(ctx, svc)
		if err != nil {
			return classify(doing+": read the IAM policy of "+g.cfg.Resource, err)
		}
		if !change(p) {
			return nil
		}
		p.Version = policyVersion
		err = g.write(ctx, svc, p)
		if err == nil {
			g.log.Debug().Str("iam_resource", g.cfg.Resource).Int("round", round).Msg(doing)
			return nil
		}
		if !isAborted(err) || round >= g.cfg.MaxAttempts {
			return classify(doing+": set the IAM policy of "+g.cfg.Resource, err)
		}
		if werr := g.Wait(ctx, round); werr != nil {
			return adapters.RetryableError(fmt.Errorf("%s: wait to retry after a concurrent change of the IAM policy: %w", doing, werr))
		}
	}
}

// read gets the policy as version 3, retrying throttling and unavailability.
func (g *GCP) read(ctx context.Context, svc *restClient) (*iamPolicy, error) {
	var p *iamPolicy
	err := g.retrying(ctx, func(ctx context.Context) error {
		var err error
		p, err = svc.getIamPolicy(ctx, g.cfg.Resource)
		return err
	})
	return p, err
}

// write sets the policy, retrying throttling and unavailability. Sending the same etag again
// is safe: if an earlier try was applied after all, the retry is refused as stale and the
// round starts over from a read that shows the change made.
func (g *GCP) write(ctx context.Context, svc *restClient, p *iamPolicy) error {
	// Without an update mask Google sets bindings and etag only, which is all that changed;
	// audit configs stay as they are.
	return g.retrying(ctx, func(ctx context.Context) error {
		return svc.setIamPolicy(ctx, g.cfg.Resource, p)
	})
}

// retrying calls call until it succeeds, fails with anything but a transient answer (429, 5xx),
// or has been tried MaxAttempts times.
func (g *GCP) retrying(ctx context.Context, call func(context.Context) error) error {
	return googleapi.Retry(ctx, g.cfg.MaxAttempts, g.Wait, call)
}

// isAborted reports whether a setIamPolicy lost a race: Google answers 409 ABORTED when the
// etag sent is not the policy's current one.
func isAborted(err error) bool {
	var ge *googleError
	return errors.As(err, &ge) && ge.Code == http.StatusConflict
}

// classify wraps err with what was being done and marks it retryable or permanent: Google's
// refusals (400, 401, 403, 404) will not change by retrying; throttling, unavailability, lost
// races and network errors may.
func classify(doing string, err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		// The token endpoint refused the credentials themselves (a revoked or deleted key).
		return adapters.Permanentf("%s: Google does not accept accessbot's credentials: %s", doing, strings.TrimSpace(string(re.Body)))
	}
	var ge *googleError
	if !errors.As(err, &ge) {
		return adapters.RetryableError(fmt.Errorf("%s: %w", doing, err))
	}
	msg := ge.Message
	if msg == "" {
		msg = http.StatusText(ge.Code)
	}
	switch {
	case ge.Code == http.StatusUnauthorized:
		return adapters.Permanentf("%s: Google does not accept accessbot's credentials: %s", doing, msg)
	case ge.Code == http.StatusForbidden:
		return adapters.Permanentf("%s: Google refused: %s", doing, msg)
	case ge.Code == http.StatusTooManyRequests, ge.Code >= 500:
		return adapters.Retryablef("%s: Google answered %d, still after retrying: %s", doing, ge.Code, msg)
	case ge.Code == http.StatusConflict:
		return adapters.Retryablef("%s: the policy kept changing under accessbot (409): %s", doing, msg)
	}
	return adapters.Permanentf("%s: Google answered %d: %s", doing, ge.Code, msg)
}

var (
	_ adapters.Adapter  = (*GCP)(nil)
	_ adapters.Lister   = (*GCP)(nil)
	_ adapters.Extender = (*GCP)(nil)
	_ adapters.Checker  = (*GCP)(nil)
	_ adapters.Holder   = (*GCP)(nil)
)
