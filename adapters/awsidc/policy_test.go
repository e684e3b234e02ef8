package awsidc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/awsidc/awsidctest"
)

// documentedActions reads the IAM policy in the README's aws-identity-center section and returns
// its actions, sorted.
func documentedActions(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n### aws-identity-center\n")
	if !ok {
		t.Fatal("README.md has no ### aws-identity-center section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	_, block, ok := strings.Cut(section, "```json\n")
	if !ok {
		t.Fatal("the aws-identity-center section has no ```json policy")
	}
	block, _, _ = strings.Cut(block, "```")
	var policy struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal([]byte(block), &policy); err != nil {
		t.Fatalf("the README's IAM policy is not JSON: %v", err)
	}
	var out []string
	for _, st := range policy.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement with effect %q", st.Effect)
		}
		out = append(out, st.Action...)
	}
	sort.Strings(out)
	return out
}

// Every operation the adapter can call, in both modes (grant, a revoke with and without lease
// data, holds, the scan with users and groups assigned, the check), needs exactly the actions the
// README's policy allows: none missing (accessbot would be refused) and none to spare.
func TestTheBotsCallsAreExactlyTheDocumentedIAMPolicy(t *testing.T) {
	srv := awsidctest.New(t, accounts...)
	alice := srv.AddUser("alice", "alice@example.com")
	team := srv.AddGroup("payments-team")
	users := newAdapter(t, srv, nil)
	groups := newAdapter(t, srv, func(c *Config) { c.Principal = PrincipalGroup })
	ctx := context.Background()
	for _, tc := range []struct {
		a       *Adapter
		account string
	}{{users.Adapter, "alice@example.com"}, {groups.Adapter, team.DisplayName}} {
		s := adapters.Subject{ID: "alice@example.com", Account: tc.account}
		if err := tc.a.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.a.Holds(ctx, s); err != nil {
			t.Fatal(err)
		}
		req := adapters.GrantRequest{GrantID: "g-policy", Subject: s, Expires: time.Now().Add(time.Hour)}
		lease, err := tc.a.Grant(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tc.a.List(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tc.a.Revoke(ctx, adapters.RevokeRequest{GrantID: req.GrantID, Subject: s, Data: lease.Data}); err != nil {
			t.Fatal(err)
		}
		if err := tc.a.Revoke(ctx, adapters.RevokeRequest{GrantID: req.GrantID, Subject: s}); err != nil {
			t.Fatal(err)
		}
	}
	// The scan names users and groups whichever mode the resource grants in.
	srv.Assign(assignment(accounts[0], "USER", alice.ID))
	srv.Assign(assignment(accounts[0], "GROUP", team.ID))
	for _, a := range []*Adapter{users.Adapter, groups.Adapter} {
		if _, err := a.List(ctx); err != nil {
			t.Fatal(err)
		}
	}

	got, want := srv.Actions(), documentedActions(t)
	if !slices.Equal(got, want) {
		t.Fatalf("the adapter called %v\nthe README's policy allows %v", got, want)
	}
}
