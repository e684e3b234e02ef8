package gcpiam

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
)

// Member kinds: how the person's account is named in the policy.
const (
	MemberUser  = "user"
	MemberGroup = "group"
)

// Kinds of resource whose IAM policy the adapter edits.
const (
	kindProject      = "projects"
	kindFolder       = "folders"
	kindOrganization = "organizations"
)

const (
	defaultTimeout     = 30 * time.Second
	defaultMaxAttempts = 5
	maxMaxAttempts     = 20
)

var (
	// projectID is a project ID as Google allows it: 6 to 30 lower-case letters, digits and
	// hyphens, starting with a letter, not ending with a hyphen.
	projectID = ident.New(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`, `^[a-z][a-z0-9-]*[a-z0-9]$`, 6, 30)
	// numericID is a project number, folder or organization ID.
	numericID = ident.New(`^[1-9][0-9]{0,24}$`, `^[1-9][0-9]*$`, 1, 25)
	// predefinedRole is "roles/" and a role name: letters, digits, '.' and '_'.
	predefinedRole = ident.New(`^roles/[A-Za-z][A-Za-z0-9_.]{0,127}$`, `^roles/[A-Za-z][A-Za-z0-9_.]*$`, 7, 134)
	// customRoleID is a custom role's ID: 3 to 64 letters, digits, '_' and '.'.
	customRoleID = ident.New(`^[A-Za-z0-9_.]{3,64}$`, `^[A-Za-z0-9_.]+$`, 3, 64)
)

// Config is the gcp-iam adapter's configuration block: one role on one project, folder or
// organization, granted to the person's Google account (or a group) with an IAM condition that
// ends it at the grant's expiry.
type Config struct {
	// Resource is the resource whose IAM policy holds the grants: "projects/<project ID or
	// number>", "folders/<number>" or "organizations/<number>".
	Resource string `yaml:"resource"`
	// Role is the role granted: a predefined role ("roles/bigquery.dataViewer") or a custom role
	// ("projects/<id>/roles/<role>", "organizations/<number>/roles/<role>").
	Role string `yaml:"role"`
	// Member is "user" (the default: the person's Google account) or "group" (a Google group);
	// the resource's account template gives the email.
	Member string `yaml:"member"`
	// Endpoint replaces https://cloudresourcemanager.googleapis.com/ (a private endpoint, or a
	// fake in tests). It is a base URL: "v3/<resource>:<method>" is appended to it, after its
	// path if it has one. Plain http is allowed only to a loopback address, so the bearer token
	// never crosses a network in the clear.
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds each Grant, Revoke, Extend, List and Check as a whole, retries included.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one call answered 429 or 503, and the read-modify-write
	// rounds lost to a concurrent change of the policy (409 ABORTED).
	MaxAttempts int `yaml:"max_attempts"`
}

// NewConfig returns a config with its defaults.
func NewConfig() *Config {
	return &Config{Member: MemberUser, Timeout: defaultTimeout, MaxAttempts: defaultMaxAttempts}
}

// Validate checks the values without contacting Google.
func (c *Config) Validate() error {
	if _, _, err := parseResource(c.Resource); err != nil {
		return err
	}
	if err := validRole(c.Role); err != nil {
		return err
	}
	switch c.Member {
	case MemberUser, MemberGroup:
	default:
		return fmt.Errorf("member %q: use %q or %q", c.Member, MemberUser, MemberGroup)
	}
	if c.Endpoint != "" {
		if err := validEndpoint(c.Endpoint); err != nil {
			return err
		}
	}
	if c.Timeout <= 0 {
		return errors.New("timeout must be positive")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > maxMaxAttempts {
		return fmt.Errorf("max_attempts must be between 1 and %d", maxMaxAttempts)
	}
	return nil
}

// parseResource splits a resource name into its kind and ID, checking the ID's form.
func parseResource(s string) (kind, id string, err error) {
	kind, id, ok := strings.Cut(s, "/")
	if s == "" {
		return "", "", errors.New("set resource: projects/<id>, folders/<number> or organizations/<number>")
	}
	if !ok {
		return "", "", fmt.Errorf("resource %q: want projects/<id>, folders/<number> or organizations/<number>", s)
	}
	switch kind {
	case kindProject:
		if !projectID.MatchString(id) && !numericID.MatchString(id) {
			return "", "", fmt.Errorf("resource %q: %q is not a project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter) or project number", s, id)
		}
	case kindFolder, kindOrganization:
		if !numericID.MatchString(id) {
			noun := map[string]string{kindFolder: "a folder", kindOrganization: "an organization"}[kind]
			return "", "", fmt.Errorf("resource %q: %s ID is a number", s, noun)
		}
	default:
		return "", "", fmt.Errorf("resource %q: want projects/<id>, folders/<number> or organizations/<number>", s)
	}
	return kind, id, nil
}

// validRole checks a role name: predefined, or a project's or organization's custom role.
func validRole(r string) error {
	if r == "" {
		return errors.New("set role: roles/<name>, projects/<id>/roles/<name> or organizations/<number>/roles/<name>")
	}
	if strings.HasPrefix(r, "roles/") {
		if !predefinedRole.MatchString(r) {
			return fmt.Errorf("role %q is not a role name (roles/ then letters, digits, '.' and '_')", r)
		}
		return nil
	}
	parts := strings.Split(r, "/")
	if len(parts) != 4 || parts[2] != "roles" {
		return fmt.Errorf("role %q: want roles/<name>, projects/<id>/roles/<name> or organizations/<number>/roles/<name>", r)
	}
	switch parts[0] {
	case kindProject:
		if !projectID.MatchString(parts[1]) {
			return fmt.Errorf("role %q: %q is not a project ID", r, parts[1])
		}
	case kindOrganization:
		if !numericID.MatchString(parts[1]) {
			return fmt.Errorf("role %q: an organization ID is a number", r)
		}
	default:
		return fmt.Errorf("role %q: custom roles belong to projects/<id> or organizations/<number>", r)
	}
	if !customRoleID.MatchString(parts[3]) {
		return fmt.Errorf("role %q: a custom role ID is 3 to 64 letters, digits, '_' and '.'", r)
	}
	return nil
}

// validEndpoint allows https anywhere and http only to a loopback host.
func validEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("endpoint %q: want a URL such as https://cloudresourcemanager.googleapis.com/", e)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return fmt.Errorf("endpoint %q: plain http only to a loopback address (it carries accessbot's bearer token)", e)
	}
	return fmt.Errorf("endpoint %q: want an https:// URL", e)
}

// String describes the config.
func (c Config) String() string {
	return fmt.Sprintf("gcp-iam{%s on %s to %s}", c.Role, c.Resource, c.Member)
}
