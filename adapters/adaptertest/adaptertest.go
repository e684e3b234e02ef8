// Package adaptertest is the conformance kit for accessbot adapters. Every adapter runs Run against
// its real target (an HTTP server, a program, a PostgreSQL started for the test, ...) and so proves
// the promises the grants package relies on: Grant is idempotent per grant ID, Revoke is idempotent
// and works without lease data, grants for different people do not touch each other, secrets stay
// out of stored lease data, and a cancelled context ends a call instead of hanging it.
//
// The kit asks the target, never the adapter, whether access exists: Harness.Has is written by the
// adapter's test with the target's own client (a SQL query, a login attempt, a file on disk).
package adaptertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
)

// Harness describes the adapter under test and how to look at its target.
type Harness struct {
	// Adapter is the adapter under test, configured against a real target.
	Adapter adapters.Adapter

	// Has asks the target whether subject holds the access that grantID made. Required.
	Has func(t *testing.T, subject adapters.Subject, grantID string) bool

	// Count, when set, asks the target how many pieces of access subject holds, so the kit can
	// prove that granting twice did not create a second one. Without it the kit counts the
	// adapter's own List when the adapter is a Lister, and otherwise relies on one Revoke
	// removing everything.
	Count func(t *testing.T, subject adapters.Subject) int

	// Usable, when set, asks the target whether the access can be used right now (a login that
	// succeeds). The native expiry test uses it, because some targets keep an expired account
	// but refuse it. Without it, Has is used.
	Usable func(t *testing.T, subject adapters.Subject, grantID string) bool

	// Subject makes the subject for a short name such as "alice". Targets with rules for account
	// names can supply their own; the default is the package's Subject.
	Subject func(name string) adapters.Subject

	// Resource is the resource name put in requests; "conformance" when empty.
	Resource string

	// Lister says the adapter must implement adapters.Lister. An adapter that implements it is
	// checked either way; the flag turns a missing implementation into a failure.
	Lister bool

	// NativeExpiry says the target ends access at GrantRequest.Expires by itself, so access ends
	// on time even when accessbot is down. The kit then grants for NativeLifetime and waits up to
	// ExpiryWait for the target to refuse the access without any Revoke.
	NativeExpiry bool
	// NativeLifetime is how long the native expiry grant lasts; 2s when zero.
	NativeLifetime time.Duration
	// ExpiryWait bounds the wait for the target to end an expired grant; 20s when zero.
	ExpiryWait time.Duration

	// CallTimeout bounds each adapter call; 30s when zero. A call that does not return within it
	// after its context is cancelled fails the cancellation test.
	CallTimeout time.Duration

	// Now is the time put in requests; time.Now when nil. Targets with their own clock (every
	// real one) need real time here.
	Now func() time.Time
}

// Subject returns a subject for a short name: ID and Email "name@example.com", Account the name
// reduced to what every target accepts (lower-case letters, digits and underscores, starting with
// a letter, at most 32 characters, the MySQL limit).
func Subject(name string) adapters.Subject {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	account := b.String()
	if account == "" || account[0] < 'a' || account[0] > 'z' {
		account = "u" + account
	}
	if len(account) > 32 {
		account = account[:32]
	}
	return adapters.Subject{ID: name + "@example.com", Email: name + "@example.com", Account: account}
}

// Run runs the conformance suite as subtests of t. Each subtest uses its own subjects and grant
// IDs and revokes what it granted when it ends, so the target is left as it was found.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Adapter == nil || h.Has == nil {
		t.Fatal("adaptertest: Harness needs Adapter and Has")
	}
	k := &kit{h: h, suffix: randomSuffix(t)}

	t.Run("grant gives access", k.grantGivesAccess)
	t.Run("grant twice with one grant ID gives access once", k.grantIsIdempotent)
	t.Run("revoke removes access", k.revokeRemovesAccess)
	t.Run("revoke twice succeeds", k.revokeIsIdempotent)
	t.Run("revoke of a grant never made succeeds", k.revokeUnknown)
	t.Run("revoke without lease data removes access", k.revokeWithoutLeaseData)
	t.Run("grants for different subjects are independent", k.grantsAreIndependent)
	t.Run("secret is not kept in lease data", k.secretNotInLeaseData)
	t.Run("cancelled context ends grant and revoke", k.cancelledContext)
	if _, ok := h.Adapter.(adapters.Lister); ok || h.Lister {
		t.Run("list shows granted access and not revoked access", k.list)
	}
	if _, ok := h.Adapter.(adapters.Extender); ok {
		t.Run("extend keeps access", k.extendKeepsAccess)
	}
	if _, ok := h.Adapter.(adapters.Checker); ok {
		t.Run("check succeeds against a healthy target", k.check)
	}
	if h.NativeExpiry {
		t.Run("target ends access at expiry by itself", k.nativeExpiry)
	}
}

type kit struct {
	h      Harness
	suffix string
}

func randomSuffix(t *testing.T) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("adaptertest: random: %v", err)
	}
	return hex.EncodeToString(b[:])
}

func (k *kit) now() time.Time {
	if k.h.Now != nil {
		return k.h.Now()
	}
	return time.Now()
}

func (k *kit) callTimeout() time.Duration {
	if k.h.CallTimeout > 0 {
		return k.h.CallTimeout
	}
	return 30 * time.Second
}

// subject returns a subject unique to this run, so a target that outlives the test (or a second
// run against the same server) never sees an account from another subtest.
func (k *kit) subject(name string) adapters.Subject {
	full := name + "_" + k.suffix
	if k.h.Subject != nil {
		return k.h.Subject(full)
	}
	return Subject(full)
}

func (k *kit) grantID(name string) string { return "g-" + name + "-" + k.suffix }

func (k *kit) request(name string, s adapters.Subject, lifetime time.Duration) adapters.GrantRequest {
	resource := k.h.Resource
	if resource == "" {
		resource = "conformance"
	}
	// Whole seconds, because several targets (PostgreSQL VALID UNTIL, SSH certificates) keep
	// expiry to the second.
	start := k.now().Truncate(time.Second)
	return adapters.GrantRequest{
		GrantID:  k.grantID(name),
		Resource: resource,
		Subject:  s,
		Reason:   "adaptertest " + name,
		Start:    start,
		Expires:  start.Add(lifetime),
	}
}

func revokeRequest(req adapters.GrantRequest, lease adapters.Lease) adapters.RevokeRequest {
	return adapters.RevokeRequest{
		GrantID:  req.GrantID,
		Resource: req.Resource,
		Subject:  req.Subject,
		Data:     lease.Data,
	}
}

func (k *kit) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), k.callTimeout())
	t.Cleanup(cancel)
	return ctx
}

// grant grants and registers a cleanup that revokes, so a failing subtest leaves nothing behind.
func (k *kit) grant(t *testing.T, req adapters.GrantRequest) adapters.Lease {
	t.Helper()
	lease, err := k.h.Adapter.Grant(k.ctx(t), req)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), k.callTimeout())
		defer cancel()
		if err := k.h.Adapter.Revoke(ctx, revokeRequest(req, lease)); err != nil {
			t.Errorf("cleanup: revoke grant %s: %v", req.GrantID, err)
		}
	})
	if err != nil {
		t.Fatalf("grant %s: %v", req.GrantID, err)
	}
	return lease
}

func (k *kit) revoke(t *testing.T, req adapters.RevokeRequest) {
	t.Helper()
	if err := k.h.Adapter.Revoke(k.ctx(t), req); err != nil {
		t.Fatalf("revoke grant %s: %v", req.GrantID, err)
	}
}

func (k *kit) mustHave(t *testing.T, s adapters.Subject, grantID string, want bool, when string) {
	t.Helper()
	if got := k.h.Has(t, s, grantID); got != want {
		if want {
			t.Fatalf("%s: target shows no access for %s (grant %s)", when, s.Account, grantID)
		}
		t.Fatalf("%s: target still shows access for %s (grant %s)", when, s.Account, grantID)
	}
}

func (k *kit) grantGivesAccess(t *testing.T) {
	s := k.subject("alice")
	req := k.request("gives", s, time.Hour)
	k.mustHave(t, s, req.GrantID, false, "before grant")
	k.grant(t, req)
	k.mustHave(t, s, req.GrantID, true, "after grant")
}

func (k *kit) grantIsIdempotent(t *testing.T) {
	s := k.subject("bob")
	req := k.request("twice", s, time.Hour)
	k.grant(t, req)
	second := k.grant(t, req)
	k.mustHave(t, s, req.GrantID, true, "after second grant")

	count, how := -1, ""
	if k.h.Count != nil {
		count, how = k.h.Count(t, s), "Count"
	} else if l, ok := k.h.Adapter.(adapters.Lister); ok {
		count, how = countListed(t, k, l, s), "List"
	}
	if count >= 0 && count != 1 {
		t.Fatalf("after granting twice, %s reports %d pieces of access for %s, want 1", how, count, s.Account)
	}

	// The lease of the second call is the one the grants package stores when the first call's
	// answer was lost, so revoking with it must remove everything both calls made.
	k.revoke(t, revokeRequest(req, second))
	k.mustHave(t, s, req.GrantID, false, "after one revoke of a grant made twice")
}

func countListed(t *testing.T, k *kit, l adapters.Lister, s adapters.Subject) int {
	t.Helper()
	list, err := l.List(k.ctx(t))
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	n := 0
	for _, a := range list {
		if a.Account == s.Account {
			n++
		}
	}
	return n
}

func (k *kit) revokeRemovesAccess(t *testing.T) {
	s := k.subject("carol")
	req := k.request("removes", s, time.Hour)
	lease := k.grant(t, req)
	k.revoke(t, revokeRequest(req, lease))
	k.mustHave(t, s, req.GrantID, false, "after revoke")
}

func (k *kit) revokeIsIdempotent(t *testing.T) {
	s := k.subject("dave")
	req := k.request("revoke2", s, time.Hour)
	lease := k.grant(t, req)
	k.revoke(t, revokeRequest(req, lease))
	k.revoke(t, revokeRequest(req, lease))
	k.mustHave(t, s, req.GrantID, false, "after second revoke")
}

func (k *kit) revokeUnknown(t *testing.T) {
	s := k.subject("erin")
	req := k.request("unknown", s, time.Hour)
	k.revoke(t, adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: s})
	k.mustHave(t, s, req.GrantID, false, "after revoke of a grant never made")
}

func (k *kit) revokeWithoutLeaseData(t *testing.T) {
	s := k.subject("frank")
	req := k.request("nolease", s, time.Hour)
	k.grant(t, req)
	// A crash between the adapter's effect and storing its lease leaves the grants package with
	// the grant row but no lease data; revocation must still work from the other fields.
	k.revoke(t, revokeRequest(req, adapters.Lease{}))
	k.mustHave(t, s, req.GrantID, false, "after revoke without lease data")
}

func (k *kit) grantsAreIndependent(t *testing.T) {
	a, b := k.subject("grace"), k.subject("heidi")
	reqA, reqB := k.request("indep-a", a, time.Hour), k.request("indep-b", b, time.Hour)
	leaseA := k.grant(t, reqA)
	k.grant(t, reqB)
	k.mustHave(t, a, reqA.GrantID, true, "after both grants")
	k.mustHave(t, b, reqB.GrantID, true, "after both grants")
	k.revoke(t, revokeRequest(reqA, leaseA))
	k.mustHave(t, a, reqA.GrantID, false, "after revoking the first")
	k.mustHave(t, b, reqB.GrantID, true, "after revoking the other subject's grant")
}

func (k *kit) secretNotInLeaseData(t *testing.T) {
	s := k.subject("ivan")
	req := k.request("secret", s, time.Hour)
	lease := k.grant(t, req)
	if lease.Secret == nil {
		t.Skip("adapter returned no secret")
	}
	if lease.Secret.Value == "" {
		t.Fatal("adapter returned a secret with an empty value")
	}
	for key, v := range lease.Data {
		if strings.Contains(v, lease.Secret.Value) || strings.Contains(key, lease.Secret.Value) {
			t.Fatalf("lease data key %q carries the secret; lease data is stored, secrets must not be", key)
		}
	}
}

func (k *kit) cancelledContext(t *testing.T) {
	s := k.subject("judy")
	req := k.request("cancel", s, time.Hour)
	t.Cleanup(func() {
		// Whatever a cancelled call managed to do is undone, as the scheduler would.
		ctx, cancel := context.WithTimeout(context.Background(), k.callTimeout())
		defer cancel()
		if err := k.h.Adapter.Revoke(ctx, revokeRequest(req, adapters.Lease{})); err != nil {
			t.Errorf("cleanup: revoke grant %s: %v", req.GrantID, err)
		}
	})

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"cancelled", cancelled}, {"past deadline", expired}} {
		err := k.bounded(t, "grant with "+c.name+" context", func() error {
			_, err := k.h.Adapter.Grant(c.ctx, req)
			return err
		})
		checkCtxErr(t, "grant with "+c.name+" context", err)
		err = k.bounded(t, "revoke with "+c.name+" context", func() error {
			return k.h.Adapter.Revoke(c.ctx, revokeRequest(req, adapters.Lease{}))
		})
		checkCtxErr(t, "revoke with "+c.name+" context", err)
	}
}

func checkCtxErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got nil error, want one", what)
		return
	}
	// The call may or may not have reached the target; either way trying again later is right.
	if adapters.IsPermanent(err) {
		t.Errorf("%s: got permanent error %v, want retryable", what, err)
	}
}

// bounded runs call and fails the test when it does not return within the call timeout, which
// is what a hang looks like from the scheduler.
func (k *kit) bounded(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	timer := time.NewTimer(k.callTimeout())
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("%s: no return within %s", what, k.callTimeout())
		return nil
	}
}

func (k *kit) list(t *testing.T) {
	l, ok := k.h.Adapter.(adapters.Lister)
	if !ok {
		t.Fatalf("harness says the adapter lists access, but %T does not implement adapters.Lister", k.h.Adapter)
	}
	kept, gone := k.subject("kim"), k.subject("leo")
	reqKept, reqGone := k.request("list-kept", kept, time.Hour), k.request("list-gone", gone, time.Hour)
	k.grant(t, reqKept)
	leaseGone := k.grant(t, reqGone)
	k.revoke(t, revokeRequest(reqGone, leaseGone))

	list, err := l.List(k.ctx(t))
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var sawKept bool
	for _, a := range list {
		if a.Account == kept.Account && (a.GrantID == "" || a.GrantID == reqKept.GrantID) {
			sawKept = true
		}
		if a.Account == gone.Account {
			t.Errorf("list shows revoked access: %+v", a)
		}
	}
	if !sawKept {
		t.Errorf("list does not show granted access for %s; got %+v", kept.Account, list)
	}
}

func (k *kit) extendKeepsAccess(t *testing.T) {
	e := k.h.Adapter.(adapters.Extender)
	s := k.subject("mallory")
	req := k.request("extend", s, time.Hour)
	lease := k.grant(t, req)
	if err := e.Extend(k.ctx(t), revokeRequest(req, lease), req.Expires.Add(time.Hour)); err != nil {
		t.Fatalf("extend grant %s: %v", req.GrantID, err)
	}
	k.mustHave(t, s, req.GrantID, true, "after extend")
	k.revoke(t, revokeRequest(req, lease))
	k.mustHave(t, s, req.GrantID, false, "after revoking an extended grant")
}

func (k *kit) check(t *testing.T) {
	c := k.h.Adapter.(adapters.Checker)
	if err := c.Check(k.ctx(t)); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func (k *kit) nativeExpiry(t *testing.T) {
	lifetime := k.h.NativeLifetime
	if lifetime <= 0 {
		lifetime = 2 * time.Second
	}
	wait := k.h.ExpiryWait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	usable := k.h.Usable
	if usable == nil {
		usable = k.h.Has
	}
	s := k.subject("niaj")
	req := k.request("expiry", s, lifetime)
	k.grant(t, req)
	if !usable(t, s, req.GrantID) {
		t.Fatalf("access for %s not usable right after grant", s.Account)
	}
	// No Revoke here: the point is that the target ends the access on its own. Polling the
	// target is the only way to see that; its clock, not ours, decides.
	deadline := time.Now().Add(lifetime + wait)
	for usable(t, s, req.GrantID) {
		if time.Now().After(deadline) {
			t.Fatalf("access for %s still usable %s after it expired", s.Account, wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Now().Before(req.Expires.Add(-time.Second)) {
		t.Fatalf("access for %s ended at %s, before its expiry %s", s.Account, time.Now().Format(time.RFC3339), req.Expires.Format(time.RFC3339))
	}
}
