package gcpiam

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/adapters"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"a predefined role on a project", func(c *Config) {}, ""},
		{"a project by number", func(c *Config) { c.Resource = "projects/123456789012" }, ""},
		{"a folder", func(c *Config) { c.Resource = "folders/1234567890" }, ""},
		{"an organization with its custom role", func(c *Config) {
			c.Resource, c.Role = "organizations/987654321", "organizations/987654321/roles/bq.reader"
		}, ""},
		{"a project's custom role", func(c *Config) { c.Role = "projects/acme-prod/roles/bqReader" }, ""},
		{"groups", func(c *Config) { c.Member = MemberGroup }, ""},
		{"an https endpoint", func(c *Config) { c.Endpoint = "https://private.googleapis.com/" }, ""},
		{"a loopback http endpoint", func(c *Config) { c.Endpoint = "http://127.0.0.1:8080/" }, ""},
		{"no resource", func(c *Config) { c.Resource = "" }, "set resource"},
		{"a bare project ID", func(c *Config) { c.Resource = "acme-prod" }, "want projects/<id>"},
		{"an unknown kind of resource", func(c *Config) { c.Resource = "billingAccounts/0123" }, "want projects/<id>"},
		{"an upper-case project ID", func(c *Config) { c.Resource = "projects/Acme-Prod" }, "is not a project ID"},
		{"a too short project ID", func(c *Config) { c.Resource = "projects/abc" }, "is not a project ID"},
		{"a project ID ending in a hyphen", func(c *Config) { c.Resource = "projects/acme-prod-" }, "is not a project ID"},
		{"a project path with more after it", func(c *Config) { c.Resource = "projects/acme-prod/x" }, "is not a project ID"},
		{"a folder by name", func(c *Config) { c.Resource = "folders/engineering" }, "a folder ID is a number"},
		{"an organization by domain", func(c *Config) { c.Resource = "organizations/acme.com" }, "an organization ID is a number"},
		{"no role", func(c *Config) { c.Role = "" }, "set role"},
		{"a role without roles/", func(c *Config) { c.Role = "viewer" }, "want roles/<name>"},
		{"a role with a space", func(c *Config) { c.Role = "roles/viewer editor" }, "is not a role name"},
		{"a custom role of a folder", func(c *Config) { c.Role = "folders/1/roles/x" }, "custom roles belong to"},
		{"a custom role with a bad ID", func(c *Config) { c.Role = "projects/acme-prod/roles/a-b" }, "custom role ID"},
		{"an unknown member kind", func(c *Config) { c.Member = "serviceAccount" }, `member "serviceAccount"`},
		{"plain http to another host", func(c *Config) { c.Endpoint = "http://crm.example.com/" }, "only to a loopback"},
		{"an endpoint that is not a URL", func(c *Config) { c.Endpoint = "cloudresourcemanager" }, "want a URL"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "max_attempts"},
		{"too many attempts", func(c *Config) { c.MaxAttempts = 1000 }, "max_attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig()
			c.Resource, c.Role = "projects/acme-prod", "roles/bigquery.dataViewer"
			tc.mutate(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("config accepted, want an error saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// The README's example decodes strictly (no unknown keys) and validates, with the defaults the
// README states.
func TestTheReadmeExampleIsAValidConfig(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### gcp-iam\n")
	if !ok {
		t.Fatal("README.md has no ### gcp-iam section")
	}
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	var doc struct {
		Resources []struct {
			Adapter yaml.Node `yaml:"adapter"`
		} `yaml:"resources"`
	}
	if err := yaml.Unmarshal([]byte(block), &doc); err != nil || len(doc.Resources) != 1 {
		t.Fatalf("the example does not parse: %v", err)
	}
	var adapter map[string]yaml.Node
	if err := doc.Resources[0].Adapter.Decode(&adapter); err != nil {
		t.Fatal(err)
	}
	delete(adapter, "type")
	rest, err := yaml.Marshal(adapter)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(string(rest)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		t.Fatalf("the example has keys the config lacks: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	def := NewConfig()
	if c.Timeout != def.Timeout || c.MaxAttempts != def.MaxAttempts || c.Member != def.Member || def.Timeout != 30*time.Second || def.MaxAttempts != 5 {
		t.Errorf("the example's timeout %s, max_attempts %d, member %s are not the defaults %s, %d, %s", c.Timeout, c.MaxAttempts, c.Member, def.Timeout, def.MaxAttempts, def.Member)
	}
}

// Building the adapter looks for no credentials and contacts nothing: config validate and
// serve's start work on a machine without Google credentials.
func TestNewContactsNothing(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
	c := NewConfig()
	c.Resource, c.Role = "projects/acme-prod", "roles/viewer"
	a, err := c.New(adapters.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("new without credentials: %v", err)
	}
	if g := a.(*GCP); g.svc != nil {
		t.Fatal("new built the client")
	}
	c.Role = "viewer"
	if _, err := c.New(adapters.Env{Log: zerolog.Nop()}); err == nil {
		t.Fatal("new accepted an invalid config")
	}
}

// The expression is the grant's expiry in UTC, rounded down to the second, and reads back.
func TestTheExpressionEndsAtTheExpiryRoundedDown(t *testing.T) {
	at := time.Date(2026, 12, 4, 19, 30, 15, 900_000_000, time.FixedZone("CET", 3600))
	expr := Expression(at)
	if want := `request.time < timestamp("2026-12-04T18:30:15Z")`; expr != want {
		t.Fatalf("Expression = %s, want %s", expr, want)
	}
	back, ok := expiryOf(expr)
	if !ok || !back.Equal(at.Truncate(time.Second)) {
		t.Fatalf("expiryOf(%s) = %s, %v", expr, back, ok)
	}
	if _, ok := expiryOf(`request.time < timestamp("2026-12-04T18:30:15Z") || true`); ok {
		t.Fatal("expiryOf read an expression accessbot does not write")
	}
}

// The default wait between retries grows from half a second and gives up at once when the call
// is cancelled, so a cancelled grant never sleeps out its backoff.
func TestTheDefaultWaitEndsWithTheContext(t *testing.T) {
	c := NewConfig()
	c.Resource, c.Role = "projects/acme-prod", "roles/viewer"
	g, err := New(*c, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := g.Wait(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a cancelled wait took %s", d)
	}
}
