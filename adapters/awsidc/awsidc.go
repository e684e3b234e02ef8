// Package awsidc is the adapter for AWS IAM Identity Center (formerly AWS SSO): a grant is an
// account assignment of one permission set, in each configured AWS account, to the person's user
// in the identity store (or to a group, for teams that grant through groups), and a revoke deletes
// those assignments.
//
// Identity Center applies assignments asynchronously: CreateAccountAssignment and
// DeleteAccountAssignment return a request that is IN_PROGRESS, and the adapter polls its status
// until it SUCCEEDED or FAILED. A FAILED request carries AWS's reason; a request still in progress
// after poll_timeout is a retryable error, so the scheduler tries again later (and Grant, being
// idempotent, simply asks again).
//
// An assignment is (account, permission set, principal), not per grant: AWS keeps no note of who
// made it or why. So the adapter cannot tell its own assignment from one made by hand, and it
// relies on Holds (adapters.Holder): a request for access the person already holds in any of the
// accounts is refused before a grant exists, so a standing assignment is never revoked. Access
// made by hand between the request and its approval is taken for the grant's own, because a grant
// retried after a crash must find its own assignment and remove it at expiry (see the README).
//
// AWS's own second lock is the permission set's session duration: sessions already started when
// the assignment is deleted live until it ends.
package awsidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	istypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"

	"github.com/accessbot/accessbot/internal/backoff"
)

// Lease data keys.
const (
	leasePrincipalID   = "principal_id"
	leasePrincipalType = "principal_type"
	leaseAccounts      = "accounts"
)

// maxAccountLength bounds an account name (an email, a userName or a group's DisplayName); the
// identity store allows at most 1024 characters for a unique attribute's value.
const maxAccountLength = 1024

// errNoPrincipal is wrapped when the identity store has no user or group by the account name.
var errNoPrincipal = errors.New("no such principal in the identity store")

func init() {
	adapters.Register(adapters.Type{
		Name:      "aws-identity-center",
		Doc:       "assigns an IAM Identity Center permission set in AWS accounts to the person (or a group) for the grant",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter with the standard AWS credential chain. It reads the environment and the
// shared config files but does not contact AWS: credentials are fetched at the first call.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	return New(context.Background(), *c, env.Log, Options{})
}

// Options are what a test or a benchmark replaces; the zero value is production.
type Options struct {
	// Credentials, when set, replace the standard credential chain (environment, shared config
	// and credentials files, web identity, container and instance roles).
	Credentials aws.CredentialsProvider
	// Backoff, when set, replaces the SDK's exponential backoff with jitter between retries of a
	// throttled or failed call.
	Backoff retry.BackoffDelayer
	// HTTPClient, when set, is the client both services use.
	HTTPClient *http.Client
	// Now and Wait are the clock of the polling: the current time, and a wait of d that ends
	// early with the context. time.Now and a timer when nil.
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) error
}

// Adapter grants one permission set in the configured accounts. It is safe for concurrent use.
type Adapter struct {
	cfg   Config
	log   zerolog.Logger
	admin *ssoadmin.Client
	store *identitystore.Client
	now   func() time.Time
	wait  func(ctx context.Context, d time.Duration) error

	// polled and polls count the time spent waiting for assignment requests, and the status
	// checks made, for the benchmark.
	polled atomic.Int64
	polls  atomic.Int64
}

// New returns the adapter for cfg.
func New(ctx context.Context, cfg Config, log zerolog.Logger, o Options) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = cfg.MaxAttempts
				if o.Backoff != nil {
					so.Backoff = o.Backoff
				}
			})
		}),
	}
	if o.Credentials != nil {
		load = append(load, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	if o.HTTPClient != nil {
		load = append(load, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration (environment and shared config files): %w", err)
	}
	a := &Adapter{cfg: cfg, log: log, now: o.Now, wait: o.Wait}
	if a.now == nil {
		a.now = time.Now
	}
	if a.wait == nil {
		a.wait = backoff.Sleep
	}
	a.admin = ssoadmin.NewFromConfig(awsCfg, func(so *ssoadmin.Options) {
		if cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	a.store = identitystore.NewFromConfig(awsCfg, func(so *identitystore.Options) {
		if cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return a, nil
}

// PollStats returns the status checks made so far and the time spent waiting for assignment
// requests to finish (from the create or delete call's answer to the final status).
func (a *Adapter) PollStats() (polls int64, waited time.Duration) {
	return a.polls.Load(), time.Duration(a.polled.Load())
}

// principal is a user or group of the identity store.
type principal struct {
	typ types.PrincipalType
	id  string
}

// checkAccount refuses an account name the identity store could not hold.
func checkAccount(account string) error {
	if account == "" {
		return adapters.Permanentf("the person has no account name for this AWS resource (set the resource's account template)")
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

// resolve finds the principal an account name stands for: a user by email or userName, or a
// group by DisplayName. An unknown name wraps errNoPrincipal in a permanent error.
func (a *Adapter) resolve(ctx context.Context, account string) (principal, error) {
	if err := checkAccount(account); err != nil {
		return principal{}, err
	}
	var (
		p   principal
		err error
	)
	if a.cfg.Principal == PrincipalGroup {
		var out *identitystore.GetGroupIdOutput
		out, err = a.store.GetGroupId(ctx, &identitystore.GetGroupIdInput{
			IdentityStoreId:     aws.String(a.cfg.IdentityStoreID),
			AlternateIdentifier: uniqueAttribute("displayName", account),
		})
		if err == nil {
			p = principal{types.PrincipalTypeGroup, aws.ToString(out.GroupId)}
		}
	} else {
		var out *identitystore.GetUserIdOutput
		out, err = a.store.GetUserId(ctx, &identitystore.GetUserIdInput{
			IdentityStoreId:     aws.String(a.cfg.IdentityStoreID),
			AlternateIdentifier: uniqueAttribute(a.cfg.lookupPath(), account),
		})
		if err == nil {
			p = principal{types.PrincipalTypeUser, aws.ToString(out.UserId)}
		}
	}
	what := a.cfg.Principal
	if isCode(err, "ResourceNotFoundException") {
		return principal{}, adapters.PermanentError(fmt.Errorf("find %s %q in identity store %s: %w", what, account, a.cfg.IdentityStoreID, errNoPrincipal))
	}
	if err != nil {
		return principal{}, classify(fmt.Sprintf("find %s %q in identity store %s", what, account, a.cfg.IdentityStoreID), err)
	}
	if !principalIDRe().MatchString(p.id) {
		return principal{}, adapters.Retryablef("find %s %q: the identity store answered an ID that is not one (%q)", what, account, p.id)
	}
	return p, nil
}

func uniqueAttribute(path, value string) istypes.AlternateIdentifier {
	return &istypes.AlternateIdentifierMemberUniqueAttribute{Value: istypes.UniqueAttribute{
		AttributePath:  aws.String(path),
		AttributeValue: document.NewLazyDocument(value),
	}}
}

func (a *Adapter) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.Timeout)
}

// Grant assigns the permission set to the person's principal in every configured account, and
// waits for each assignment to be made. Assigning what exists already succeeds, so a grant asked
// again (after a crash, a timeout) makes nothing twice. On a permanent failure the assignments
// this call made are deleted again, because a failed grant is never revoked.
func (a *Adapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	p, err := a.resolve(ctx, req.Subject.Account)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	var made []string
	for _, acct := range a.cfg.AccountIDs {
		if err := a.assign(ctx, acct, p); err != nil {
			err = fmt.Errorf("grant %s: %w", req.GrantID, err)
			if adapters.IsPermanent(err) && len(made) > 0 {
				if uerr := a.undo(ctx, made, p); uerr != nil {
					// What was made stays until this works: try again rather than fail for good.
					return adapters.Lease{}, adapters.Retryablef("%v; and removing the assignments it made failed: %v", err, uerr)
				}
			}
			return adapters.Lease{}, err
		}
		made = append(made, acct)
	}
	return adapters.Lease{Data: map[string]string{
		leasePrincipalID:   p.id,
		leasePrincipalType: string(p.typ),
		leaseAccounts:      strings.Join(a.cfg.AccountIDs, ","),
	}}, nil
}

func (a *Adapter) undo(ctx context.Context, accounts []string, p principal) error {
	for _, acct := range accounts {
		if err := a.unassign(ctx, acct, p); err != nil {
			return err
		}
	}
	return nil
}

// assign makes one assignment and waits for it.
func (a *Adapter) assign(ctx context.Context, account string, p principal) error {
	what := fmt.Sprintf("assign permission set %s in account %s to %s %s", a.cfg.PermissionSetARN, account, p.typ, p.id)
	out, err := a.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn:      aws.String(a.cfg.InstanceARN),
		PermissionSetArn: aws.String(a.cfg.PermissionSetARN),
		PrincipalId:      aws.String(p.id),
		PrincipalType:    p.typ,
		TargetId:         aws.String(account),
		TargetType:       types.TargetTypeAwsAccount,
	})
	if err != nil {
		return classify(what, err)
	}
	st, err := a.await(ctx, what, out.AccountAssignmentCreationStatus, func(ctx context.Context, id string) (*types.AccountAssignmentOperationStatus, error) {
		out, err := a.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(a.cfg.InstanceARN), AccountAssignmentCreationRequestId: aws.String(id),
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentCreationStatus, nil
	})
	if err != nil {
		return err
	}
	if st.Status == types.StatusValuesFailed {
		return failed(what, aws.ToString(st.FailureReason))
	}
	return nil
}

// unassign deletes one assignment and waits for it. An assignment that is not there is done.
func (a *Adapter) unassign(ctx context.Context, account string, p principal) error {
	what := fmt.Sprintf("delete the assignment of permission set %s in account %s to %s %s", a.cfg.PermissionSetARN, account, p.typ, p.id)
	out, err := a.admin.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
		InstanceArn:      aws.String(a.cfg.InstanceARN),
		PermissionSetArn: aws.String(a.cfg.PermissionSetARN),
		PrincipalId:      aws.String(p.id),
		PrincipalType:    p.typ,
		TargetId:         aws.String(account),
		TargetType:       types.TargetTypeAwsAccount,
	})
	if isCode(err, "ResourceNotFoundException") {
		// Not there: done, unless a creation AWS has not finished yet would make it afterwards
		// (a grant that timed out polling, revoked before AWS was through).
		pending, err := a.creationInProgress(ctx, account, p)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if pending != "" {
			return adapters.Retryablef("%s: AWS is still creating it (request %s); the next attempt deletes it", what, pending)
		}
		return nil
	}
	if err != nil {
		return classify(what, err)
	}
	st, err := a.await(ctx, what, out.AccountAssignmentDeletionStatus, func(ctx context.Context, id string) (*types.AccountAssignmentOperationStatus, error) {
		out, err := a.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: aws.String(a.cfg.InstanceARN), AccountAssignmentDeletionRequestId: aws.String(id),
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentDeletionStatus, nil
	})
	if err != nil {
		return err
	}
	if st.Status == types.StatusValuesFailed {
		reason := aws.ToString(st.FailureReason)
		if notFoundReason(reason) {
			return nil
		}
		return failed(what, reason)
	}
	return nil
}

// maxPendingPages bounds the pages of in-progress creations read on a revoke; an instance with
// more in flight than that is answered as if this one were among them (retry later).
const maxPendingPages = 10

// creationInProgress returns the ID of a creation request still in progress for the assignment
// of the permission set in account to p, or "".
func (a *Adapter) creationInProgress(ctx context.Context, account string, p principal) (string, error) {
	pages := ssoadmin.NewListAccountAssignmentCreationStatusPaginator(a.admin, &ssoadmin.ListAccountAssignmentCreationStatusInput{
		InstanceArn: aws.String(a.cfg.InstanceARN),
		Filter:      &types.OperationStatusFilter{Status: types.StatusValuesInProgress},
	})
	for n := 0; pages.HasMorePages(); n++ {
		if n == maxPendingPages {
			return "", adapters.Retryablef("more than %d pages of assignment creations are in progress; try again once AWS is through", maxPendingPages)
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", classify("list the assignment creations in progress", err)
		}
		for _, m := range page.AccountAssignmentsCreationStatus {
			id := aws.ToString(m.RequestId)
			out, err := a.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
				InstanceArn: aws.String(a.cfg.InstanceARN), AccountAssignmentCreationRequestId: aws.String(id),
			})
			if isCode(err, "ResourceNotFoundException") {
				continue
			}
			if err != nil {
				return "", classify("check assignment creation "+id, err)
			}
			st := out.AccountAssignmentCreationStatus
			if st != nil && st.Status == types.StatusValuesInProgress && aws.ToString(st.TargetId) == account &&
				aws.ToString(st.PermissionSetArn) == a.cfg.PermissionSetARN && st.PrincipalType == p.typ && aws.ToString(st.PrincipalId) == p.id {
				return id, nil
			}
		}
	}
	return "", nil
}

// await polls an assignment request until it is no longer IN_PROGRESS, waiting a quarter of
// poll_interval first and doubling up to it. It returns the final status (SUCCEEDED or FAILED);
// a request still in progress after poll_timeout is a retryable error.
func (a *Adapter) await(ctx context.Context, what string, st *types.AccountAssignmentOperationStatus,
	describe func(context.Context, string) (*types.AccountAssignmentOperationStatus, error)) (*types.AccountAssignmentOperationStatus, error) {
	if st == nil || aws.ToString(st.RequestId) == "" {
		return nil, adapters.Retryablef("%s: AWS answered no request to follow", what)
	}
	id := aws.ToString(st.RequestId)
	start := a.now()
	defer func() { a.polled.Add(int64(a.now().Sub(start))) }()
	deadline := start.Add(a.cfg.PollTimeout)
	delay := max(a.cfg.PollInterval/4, time.Millisecond)
	for st.Status == types.StatusValuesInProgress || st.Status == "" {
		left := deadline.Sub(a.now())
		if left <= 0 {
			return nil, adapters.Retryablef("%s: request %s still in progress after %s (poll_timeout); the next attempt asks again", what, id, a.cfg.PollTimeout)
		}
		if err := a.wait(ctx, min(delay, left)); err != nil {
			return nil, adapters.RetryableError(fmt.Errorf("%s: wait for request %s: %w", what, id, err))
		}
		delay = min(delay*2, a.cfg.PollInterval)
		a.polls.Add(1)
		next, err := describe(ctx, id)
		if err != nil {
			return nil, classify(fmt.Sprintf("%s: check request %s", what, id), err)
		}
		if next == nil {
			return nil, adapters.Retryablef("%s: AWS answered no status for request %s", what, id)
		}
		st = next
	}
	switch st.Status {
	case types.StatusValuesSucceeded, types.StatusValuesFailed:
		return st, nil
	}
	return nil, adapters.Retryablef("%s: request %s has status %q, which accessbot does not know", what, id, st.Status)
}

// permanentReasons are the words of a FAILED request's reason that say the request itself is
// wrong (an unknown principal, permission set or account, a policy AWS refuses, a quota, a
// refusal): asking again gives the same answer. Any other reason (throttling, an internal error, a
// concurrent change, one not seen before) is retryable: giving up on a grant, or worse on a
// revocation, is costlier than one more try.
var permanentReasons = []string{
	"does not exist", "not found", "notfound", "invalid", "not valid", "malformed", "validation",
	"access denied", "accessdenied", "not authorized", "unauthorized", "quota", "limit exceeded",
	"exceeds", "not a member", "not part of", "not supported", "is not enabled",
}

func failed(what, reason string) error {
	if reason == "" {
		reason = "AWS gave no reason"
	}
	err := fmt.Errorf("%s: AWS failed the request: %s", what, reason)
	lower := strings.ToLower(reason)
	for _, w := range permanentReasons {
		if strings.Contains(lower, w) {
			return adapters.PermanentError(err)
		}
	}
	return adapters.RetryableError(err)
}

// notFoundReason says a deletion failed because the assignment was not there: done.
func notFoundReason(reason string) bool {
	lower := strings.ToLower(reason)
	return strings.Contains(lower, "not found") || strings.Contains(lower, "does not exist")
}

// isCode says whether err is AWS's error with that code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// retryableCodes are AWS error codes that another try may not meet: throttling the SDK's retries
// did not outlast, AWS's own faults, a concurrent change of the same assignment, an expired
// session token the credential chain will renew.
var retryableCodes = []string{
	"ThrottlingException", "TooManyRequestsException", "InternalServerException", "InternalFailure",
	"ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
	"ConflictException", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
}

// classify wraps an error of an AWS call with what was being done and its kind: a refusal, an
// invalid request or an unknown resource is permanent; throttling, AWS's faults, a conflict, a
// network error or a deadline are retryable.
func classify(what string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return adapters.RetryableError(fmt.Errorf("%s: %w", what, err))
	}
	code := ae.ErrorCode()
	wrapped := fmt.Errorf("%s: AWS answered %s: %s", what, code, ae.ErrorMessage())
	if slices.Contains(retryableCodes, code) || ae.ErrorFault() == smithy.FaultServer {
		var me *retry.MaxAttemptsError
		if errors.As(err, &me) {
			wrapped = fmt.Errorf("%s: AWS answered %s after %d attempts: %s", what, code, me.Attempt, ae.ErrorMessage())
		}
		return adapters.RetryableError(wrapped)
	}
	switch code {
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken":
		return adapters.PermanentError(fmt.Errorf("%w (check accessbot's AWS credentials and the IAM policy in the README)", wrapped))
	}
	return adapters.PermanentError(wrapped)
}

// Revoke deletes the grant's assignments, in the accounts the lease names and those configured
// now, from the principal the lease names or, without lease data, the one the account name
// stands for. A principal the identity store no longer has holds nothing: done.
func (a *Adapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	p, ok := a.leasePrincipal(req.Data)
	if !ok {
		var err error
		p, err = a.resolve(ctx, req.Subject.Account)
		if errors.Is(err, errNoPrincipal) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("revoke grant %s: %w", req.GrantID, err)
		}
	}
	accounts := slices.Clone(a.cfg.AccountIDs)
	for _, acct := range strings.Split(req.Data[leaseAccounts], ",") {
		if accountIDRe().MatchString(acct) && !slices.Contains(accounts, acct) {
			accounts = append(accounts, acct)
		}
	}
	for _, acct := range accounts {
		if err := a.unassign(ctx, acct, p); err != nil {
			return fmt.Errorf("revoke grant %s: %w", req.GrantID, err)
		}
	}
	return nil
}

// leasePrincipal reads the principal from lease data, keeping only a well-formed one: lease data
// is the adapter's own, but it has been through a database.
func (a *Adapter) leasePrincipal(data map[string]string) (principal, bool) {
	id, typ := data[leasePrincipalID], types.PrincipalType(data[leasePrincipalType])
	if !principalIDRe().MatchString(id) || (typ != types.PrincipalTypeUser && typ != types.PrincipalTypeGroup) {
		return principal{}, false
	}
	return principal{typ, id}, true
}

// assignments lists the permission set's assignments in one account, every page.
func (a *Adapter) assignments(ctx context.Context, account string) ([]types.AccountAssignment, error) {
	var out []types.AccountAssignment
	pages := ssoadmin.NewListAccountAssignmentsPaginator(a.admin, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn:      aws.String(a.cfg.InstanceARN),
		AccountId:        aws.String(account),
		PermissionSetArn: aws.String(a.cfg.PermissionSetARN),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(fmt.Sprintf("list the assignments of permission set %s in account %s", a.cfg.PermissionSetARN, account), err)
		}
		out = append(out, page.AccountAssignments...)
	}
	return out, nil
}

// Holds says whether the person's principal has the permission set in any configured account
// already. AWS cannot say who made an assignment, so any assignment counts: a request for such
// access is refused (there is nothing to add in that account, and its revocation must not take
// the standing assignment away). A principal the identity store does not know holds nothing.
func (a *Adapter) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	if checkAccount(s.Account) != nil {
		return false, nil
	}
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	p, err := a.resolve(ctx, s.Account)
	if errors.Is(err, errNoPrincipal) {
		return false, nil // nobody to hold anything; the grant will say so
	}
	if err != nil {
		return false, fmt.Errorf("check standing assignments of %s: %w", s.Account, err)
	}
	for _, acct := range a.cfg.AccountIDs {
		as, err := a.assignments(ctx, acct)
		if err != nil {
			return false, fmt.Errorf("check standing assignments of %s: %w", s.Account, err)
		}
		for _, as := range as {
			if as.PrincipalType == p.typ && aws.ToString(as.PrincipalId) == p.id {
				return true, nil
			}
		}
	}
	return false, nil
}

// List returns one Access per assignment of the permission set in the configured accounts, named
// as a grant's account would be (the user's email or userName, the group's DisplayName), so the
// scan finds assignments that no grant explains. A principal of the other type than the adapter
// grants to is named "user:<name>" or "group:<name>", which no grant's account is.
func (a *Adapter) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	names := map[principal]string{}
	var out []adapters.Access
	for _, acct := range a.cfg.AccountIDs {
		as, err := a.assignments(ctx, acct)
		if err != nil {
			return nil, err
		}
		for _, as := range as {
			p := principal{as.PrincipalType, aws.ToString(as.PrincipalId)}
			name, ok := names[p]
			if !ok {
				if name, err = a.nameOf(ctx, p); err != nil {
					return nil, err
				}
				names[p] = name
			}
			out = append(out, adapters.Access{
				Account: name,
				Detail:  fmt.Sprintf("permission set %s in account %s (%s %s)", a.cfg.PermissionSetARN, acct, p.typ, p.id),
			})
		}
	}
	return out, nil
}

// nameOf names a principal as the resource's account template would.
func (a *Adapter) nameOf(ctx context.Context, p principal) (string, error) {
	mine := (p.typ == types.PrincipalTypeGroup) == (a.cfg.Principal == PrincipalGroup)
	prefix := ""
	if !mine {
		prefix = strings.ToLower(string(p.typ)) + ":"
	}
	if !principalIDRe().MatchString(p.id) {
		return prefix + p.id, nil
	}
	if p.typ == types.PrincipalTypeGroup {
		out, err := a.store.DescribeGroup(ctx, &identitystore.DescribeGroupInput{IdentityStoreId: aws.String(a.cfg.IdentityStoreID), GroupId: aws.String(p.id)})
		if isCode(err, "ResourceNotFoundException") {
			return "group:" + p.id, nil
		}
		if err != nil {
			return "", classify("describe group "+p.id, err)
		}
		return prefix + aws.ToString(out.DisplayName), nil
	}
	out, err := a.store.DescribeUser(ctx, &identitystore.DescribeUserInput{IdentityStoreId: aws.String(a.cfg.IdentityStoreID), UserId: aws.String(p.id)})
	if isCode(err, "ResourceNotFoundException") {
		return "user:" + p.id, nil
	}
	if err != nil {
		return "", classify("describe user "+p.id, err)
	}
	if a.cfg.UserLookup == LookupUserName {
		return prefix + aws.ToString(out.UserName), nil
	}
	email := ""
	for _, e := range out.Emails {
		if email == "" || e.Primary {
			email = aws.ToString(e.Value)
		}
		if e.Primary {
			break
		}
	}
	if email == "" {
		return "user:" + aws.ToString(out.UserName), nil
	}
	return prefix + email, nil
}

// Check describes the permission set: it proves the credentials, the instance and the
// permission set in one cheap call.
func (a *Adapter) Check(ctx context.Context) error {
	ctx, cancel := a.withTimeout(ctx)
	defer cancel()
	_, err := a.admin.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{
		InstanceArn: aws.String(a.cfg.InstanceARN), PermissionSetArn: aws.String(a.cfg.PermissionSetARN),
	})
	if err != nil {
		return classify("describe permission set "+a.cfg.PermissionSetARN, err)
	}
	return nil
}

var (
	_ adapters.Adapter = (*Adapter)(nil)
	_ adapters.Lister  = (*Adapter)(nil)
	_ adapters.Checker = (*Adapter)(nil)
	_ adapters.Holder  = (*Adapter)(nil)
)
