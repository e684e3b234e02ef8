package awsidc

import (
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/awsidc/awsidctest"
)

func validConfig() *Config {
	c := NewConfig()
	c.Region = awsidctest.Region
	c.InstanceARN = awsidctest.InstanceARN
	c.IdentityStoreID = awsidctest.IdentityStoreID
	c.PermissionSetARN = awsidctest.PermissionSetARN
	c.AccountIDs = []string{"012345678901"}
	return c
}

func TestConfigValidationRefusesMalformedIdentifiersBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		says   string
	}{
		{"a missing region", func(c *Config) { c.Region = "" }, "set region"},
		{"a region that is not one", func(c *Config) { c.Region = "Europe" }, "not an AWS region"},
		{"an instance ARN of another service", func(c *Config) { c.InstanceARN = "arn:aws:iam:::instance/ssoins-0123456789abcdef" }, "instance_arn"},
		{"an instance ID too short", func(c *Config) { c.InstanceARN = "arn:aws:sso:::instance/ssoins-0123" }, "instance_arn"},
		{"an identity store ID that is not one", func(c *Config) { c.IdentityStoreID = "d-XYZ" }, "identity_store_id"},
		{"no permission set", func(c *Config) { c.PermissionSetARN = "" }, "set permission_set_arn"},
		{"a permission set ARN that is not one", func(c *Config) { c.PermissionSetARN = "arn:aws:sso:::permissionSet/ps-0123456789abcdef" }, "not a permission set ARN"},
		{"a permission set of another instance", func(c *Config) {
			c.PermissionSetARN = "arn:aws:sso:::permissionSet/ssoins-fedcba9876543210/ps-0123456789abcdef"
		}, "another instance"},
		{"no accounts", func(c *Config) { c.AccountIDs = nil }, "account_ids"},
		{"an account ID of 11 digits", func(c *Config) { c.AccountIDs = []string{"12345678901"} }, "not 12 digits"},
		{"an account ID with a letter", func(c *Config) { c.AccountIDs = []string{"12345678901a"} }, "not 12 digits"},
		{"an account listed twice", func(c *Config) { c.AccountIDs = []string{"012345678901", "012345678901"} }, "listed twice"},
		{"an unknown principal type", func(c *Config) { c.Principal = "role" }, "principal"},
		{"an unknown user lookup", func(c *Config) { c.UserLookup = "phone" }, "user_lookup"},
		{"an endpoint that is not a URL", func(c *Config) { c.Endpoint = "localhost:4566" }, "endpoint"},
		{"an endpoint with a path", func(c *Config) { c.Endpoint = "https://example.com/sso" }, "endpoint"},
		{"a zero poll interval", func(c *Config) { c.PollInterval = 0 }, "poll_interval"},
		{"a poll timeout below the interval", func(c *Config) { c.PollTimeout = time.Second; c.PollInterval = 2 * time.Second }, "poll_timeout"},
		{"a timeout below the poll timeout", func(c *Config) { c.Timeout = time.Minute }, "timeout must be at least poll_timeout"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "max_attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("validate: %v, want an error saying %q", err, tt.says)
			}
		})
	}
}

func TestConfigValidationAcceptsEveryDocumentedForm(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"the defaults with the required keys", func(*Config) {}},
		{"a GovCloud instance", func(c *Config) {
			c.Region = "us-gov-west-1"
			c.InstanceARN = "arn:aws-us-gov:sso:::instance/ssoins-0123456789abcdef"
			c.PermissionSetARN = "arn:aws-us-gov:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef"
		}},
		{"an identity store with a UUID ID", func(c *Config) { c.IdentityStoreID = "01234567-89ab-cdef-0123-456789abcdef" }},
		{"group mode by user name", func(c *Config) { c.Principal, c.UserLookup = PrincipalGroup, LookupUserName }},
		{"a private endpoint", func(c *Config) { c.Endpoint = "https://vpce-0123.sso.eu-west-1.vpce.amazonaws.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}
