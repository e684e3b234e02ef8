package mysql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
)

// TestSessionsListsTheGrantsConnections: a connection opened with the grant's password is
// listed under the grant with its client address, under one key across samples; once it
// closes it is gone; a grant nobody used has none.
func TestSessionsListsTheGrantsConnections(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, botGrants{}), e.withGrants)
	req := grantRequest("sampled", "g-sampled-"+e.sfx)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	other := grantRequest("idle", "g-idle-"+e.sfx)
	otherLease, err := a.Grant(ctxFor(t), other)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(other, otherLease)) })
	grants := []adapters.RevokeRequest{revokeRequest(req, lease), revokeRequest(other, otherLease)}

	if none, err := a.Sessions(ctxFor(t), grants); err != nil || len(none) != 0 {
		t.Fatalf("before any login: %v, %v; want no sessions", none, err)
	}
	_, done, ok := e.login(t, lease.Data["user"], lease.Secret.Value)
	if !ok {
		t.Fatal("cannot log in")
	}
	first, err := a.Sessions(ctxFor(t), grants)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 {
		t.Fatalf("sessions = %+v, want the one connection", first)
	}
	s := first[0]
	if s.GrantID != req.GrantID || s.Account != lease.Data["user"] || s.Client == "" || !strings.HasPrefix(s.Key, "id:") {
		t.Fatalf("session = %+v, want grant %s, user %s, a client and a connection ID", s, req.GrantID, lease.Data["user"])
	}
	if again, err := a.Sessions(ctxFor(t), grants); err != nil || len(again) != 1 || again[0].Key != s.Key {
		t.Fatalf("second sample = %+v, %v; want the same connection under key %s", again, err, s.Key)
	}
	done()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, err := a.Sessions(ctxFor(t), grants)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection is still listed: %+v", left)
		}
	}
}
