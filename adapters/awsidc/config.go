package awsidc

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Principal types: what an assignment is made to.
const (
	// PrincipalUser assigns the permission set to the person's own user in the identity store.
	PrincipalUser = "user"
	// PrincipalGroup assigns it to a group, named by the resource's account template (the
	// group's DisplayName), for teams that grant through groups.
	PrincipalGroup = "group"
)

// User lookups: which unique attribute of a user the person's account name is.
const (
	// LookupEmail finds the user whose email (emails.value) is the account name.
	LookupEmail = "email"
	// LookupUserName finds the user whose userName is the account name.
	LookupUserName = "user_name"
)

const (
	defaultPollInterval = 2 * time.Second
	defaultPollTimeout  = 2 * time.Minute
	defaultTimeout      = 5 * time.Minute
	defaultMaxAttempts  = 5
)

// The identifiers' formats, as the IAM Identity Center and Identity Store API references give
// them (the partitions are those the references list). They are compiled at first use, not when
// the program starts: every process links this adapter, few configure it.
var (
	partition       = `(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc)`
	instanceARNRe   = lazyRegexp(`^arn:` + partition + `:sso:::instance/((sso)?ins-[a-zA-Z0-9-.]{16})$`)
	permissionSetRe = lazyRegexp(`^arn:` + partition + `:sso:::permissionSet/((sso)?ins-[a-zA-Z0-9-.]{16})/ps-[a-zA-Z0-9-./]{16}$`)
	identityStoreRe = lazyRegexp(`^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	accountIDRe     = lazyRegexp(`^[0-9]{12}$`)
	regionRe        = lazyRegexp(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// principalIDRe is a user's or group's ID in the identity store.
	principalIDRe = lazyRegexp(`^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$`)
)

// lazyRegexp returns a function that compiles expr once, at its first call.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Config is the aws-identity-center adapter's configuration block: one Identity Center instance,
// one permission set, and the AWS accounts it is assigned in.
type Config struct {
	// Region is the region of the Identity Center instance (its API lives only there).
	Region string `yaml:"region"`
	// InstanceARN is the Identity Center instance, arn:aws:sso:::instance/ssoins-....
	InstanceARN string `yaml:"instance_arn"`
	// IdentityStoreID is the instance's identity store, d-xxxxxxxxxx.
	IdentityStoreID string `yaml:"identity_store_id"`
	// PermissionSetARN is the permission set granted, of the same instance.
	PermissionSetARN string `yaml:"permission_set_arn"`
	// AccountIDs are the AWS accounts (12 digits each) the permission set is assigned in; a grant
	// is one assignment in each.
	AccountIDs []string `yaml:"account_ids"`
	// Principal is "user" (the default: the person's own user) or "group".
	Principal string `yaml:"principal"`
	// UserLookup is which unique attribute the person's account name is, in user mode: "email"
	// (the default, emails.value) or "user_name" (userName).
	UserLookup string `yaml:"user_lookup"`
	// Endpoint, when set, is the URL of both APIs (SSO admin and identity store) instead of AWS's
	// regional endpoints: for tests and private (VPC) endpoints.
	Endpoint string `yaml:"endpoint"`
	// PollInterval is the longest wait between two status checks of an assignment request; the
	// first check comes after a quarter of it, and the waits double up to it.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PollTimeout bounds the wait for one assignment request to finish. A request still in
	// progress then is a retryable error: the scheduler tries again later.
	PollTimeout time.Duration `yaml:"poll_timeout"`
	// Timeout bounds each Grant, Revoke, List, Check and Holds as a whole.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many times the SDK's standard retryer tries one API call (throttling,
	// 5xx, network errors) before the adapter gives up with a retryable error.
	MaxAttempts int `yaml:"max_attempts"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{
		Principal:    PrincipalUser,
		UserLookup:   LookupEmail,
		PollInterval: defaultPollInterval,
		PollTimeout:  defaultPollTimeout,
		Timeout:      defaultTimeout,
		MaxAttempts:  defaultMaxAttempts,
	}
}

// Validate checks every identifier's format without contacting AWS.
func (c *Config) Validate() error {
	if c.Region == "" {
		return errors.New("set region: the region of the Identity Center instance")
	}
	if !regionRe().MatchString(c.Region) {
		return fmt.Errorf("region %q is not an AWS region name (like eu-west-1)", c.Region)
	}
	m := instanceARNRe().FindStringSubmatch(c.InstanceARN)
	if m == nil {
		return fmt.Errorf("instance_arn %q is not an Identity Center instance ARN (arn:aws:sso:::instance/ssoins-<16 characters>)", c.InstanceARN)
	}
	if !identityStoreRe().MatchString(c.IdentityStoreID) {
		return fmt.Errorf("identity_store_id %q is not an identity store ID (d-<10 hex digits>)", c.IdentityStoreID)
	}
	if c.PermissionSetARN == "" {
		return errors.New("set permission_set_arn: the permission set to grant")
	}
	ps := permissionSetRe().FindStringSubmatch(c.PermissionSetARN)
	if ps == nil {
		return fmt.Errorf("permission_set_arn %q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-<16>/ps-<16>)", c.PermissionSetARN)
	}
	if ps[1] != m[1] || ps[2] != m[2] {
		return fmt.Errorf("permission_set_arn %q belongs to another instance than instance_arn %q", c.PermissionSetARN, c.InstanceARN)
	}
	if len(c.AccountIDs) == 0 {
		return errors.New("list the account_ids (12 digits each) to assign the permission set in")
	}
	seen := map[string]bool{}
	for _, id := range c.AccountIDs {
		if !accountIDRe().MatchString(id) {
			return fmt.Errorf("account ID %q is not 12 digits (quote it in YAML, so leading zeros stay)", id)
		}
		if seen[id] {
			return fmt.Errorf("account ID %s is listed twice", id)
		}
		seen[id] = true
	}
	switch c.Principal {
	case PrincipalUser, PrincipalGroup:
	default:
		return fmt.Errorf("principal %q: use %q or %q", c.Principal, PrincipalUser, PrincipalGroup)
	}
	switch c.UserLookup {
	case LookupEmail, LookupUserName:
	default:
		return fmt.Errorf("user_lookup %q: use %q or %q", c.UserLookup, LookupEmail, LookupUserName)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("endpoint %q: want an http:// or https:// URL without a path", c.Endpoint)
		}
	}
	switch {
	case c.PollInterval <= 0:
		return errors.New("poll_interval must be positive")
	case c.PollTimeout < c.PollInterval:
		return errors.New("poll_timeout must be at least poll_interval")
	case c.Timeout < c.PollTimeout:
		return errors.New("timeout must be at least poll_timeout: it bounds a whole call, polling included")
	case c.MaxAttempts < 1:
		return errors.New("max_attempts must be at least 1")
	}
	return nil
}

// lookupPath is the identity store attribute the account name is matched against.
func (c *Config) lookupPath() string {
	if c.UserLookup == LookupUserName {
		return "userName"
	}
	return "emails.value"
}

// String describes the config.
func (c Config) String() string {
	return fmt.Sprintf("aws-identity-center{%s in %s to %s via %s}", c.PermissionSetARN,
		strings.Join(c.AccountIDs, ","), c.Principal, c.Region)
}
