package adaptertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
)

// mem is an in-memory target and adapter in one, with switchable faults, to check that the kit
// passes a correct adapter and fails each kind of broken one.
type mem struct {
	fault string

	mu     sync.Mutex
	next   int
	access map[string]memAccess // by key
}

type memAccess struct {
	grantID string
	account string
}

func newMem(fault string) *mem { return &mem{fault: fault, access: map[string]memAccess{}} }

func (m *mem) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if err := ctx.Err(); err != nil {
		if m.fault == "hangs-on-cancel" {
			select {} // the bug under test: never returns
		}
		return adapters.Lease{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := req.GrantID
	if m.fault == "duplicates" {
		m.next++
		key = req.GrantID + "#" + strconv.Itoa(m.next)
	}
	m.access[key] = memAccess{grantID: req.GrantID, account: req.Subject.Account}
	lease := adapters.Lease{Data: map[string]string{"key": key}, Secret: &adapters.Secret{Kind: "password", Value: "pw-" + key}}
	if m.fault == "secret-in-lease" {
		lease.Data["password"] = lease.Secret.Value
	}
	return lease, nil
}

func (m *mem) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.fault {
	case "revoke-does-nothing":
		return nil
	case "revoke-removes-all":
		clear(m.access)
		return nil
	case "duplicates":
		delete(m.access, req.Data["key"])
		return nil
	case "needs-lease":
		if req.Data == nil {
			return nil
		}
	}
	if _, ok := m.access[req.GrantID]; !ok && m.fault == "gone-is-error" {
		return adapters.Permanentf("no grant %s", req.GrantID)
	}
	delete(m.access, req.GrantID)
	return nil
}

func (m *mem) List(ctx context.Context) ([]adapters.Access, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []adapters.Access
	for _, a := range m.access {
		out = append(out, adapters.Access{Account: a.account, GrantID: a.grantID})
	}
	if m.fault == "list-misses" {
		return nil, nil
	}
	return out, nil
}

func (m *mem) has(s adapters.Subject, grantID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.access {
		if a.grantID == grantID && a.account == s.Account {
			return true
		}
	}
	return false
}

func harness(fault string) Harness {
	m := newMem(fault)
	return Harness{
		Adapter:     m,
		Has:         func(t *testing.T, s adapters.Subject, grantID string) bool { return m.has(s, grantID) },
		Lister:      true,
		CallTimeout: 2 * time.Second,
	}
}

func TestKitPassesACorrectAdapter(t *testing.T) {
	Run(t, harness(""))
}

// TestBrokenAdapter is run by TestKitFailsBrokenAdapters in a child process, because a failing
// subtest cannot be contained in the process that runs it.
func TestBrokenAdapter(t *testing.T) {
	fault := os.Getenv("ADAPTERTEST_FAULT")
	if fault == "" {
		t.Skip("run by TestKitFailsBrokenAdapters")
	}
	Run(t, harness(fault))
}

func TestKitFailsBrokenAdapters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child test processes")
	}
	tests := []struct {
		fault      string
		failedTest string
	}{
		{"revoke-does-nothing", "revoke_removes_access"},
		{"revoke-removes-all", "grants_for_different_subjects_are_independent"},
		{"duplicates", "grant_twice_with_one_grant_ID_gives_access_once"},
		{"needs-lease", "revoke_without_lease_data_removes_access"},
		{"gone-is-error", "revoke_of_a_grant_never_made_succeeds"},
		{"secret-in-lease", "secret_is_not_kept_in_lease_data"},
		{"hangs-on-cancel", "cancelled_context_ends_grant_and_revoke"},
		{"list-misses", "list_shows_granted_access_and_not_revoked_access"},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenAdapter$", "-test.v")
			cmd.Env = append(os.Environ(), "ADAPTERTEST_FAULT="+tt.fault)
			out, err := cmd.CombinedOutput()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("the kit passed an adapter with fault %s (err %v):\n%s", tt.fault, err, out)
			}
			if want := "--- FAIL: TestBrokenAdapter/" + tt.failedTest; !strings.Contains(string(out), want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		})
	}
}

func TestSubjectMakesAccountsEveryTargetAccepts(t *testing.T) {
	tests := []struct{ name, account string }{
		{"alice", "alice"},
		{"Bob-Smith", "bob_smith"},
		{"9lives", "u9lives"},
		{"", "u"},
		{"a-very-long-name-that-goes-past-thirty-two", "a_very_long_name_that_goes_past_"},
	}
	for _, tt := range tests {
		s := Subject(tt.name)
		if s.Account != tt.account {
			t.Errorf("Subject(%q).Account = %q, want %q", tt.name, s.Account, tt.account)
		}
		if s.ID != tt.name+"@example.com" || s.Email != s.ID {
			t.Errorf("Subject(%q) = %+v, want ID and Email name@example.com", tt.name, s)
		}
	}
}
