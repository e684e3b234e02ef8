package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/postgres"
)

// TestSessionLoggingIsSetOnTheEphemeralRole: with session_logging, the role the grant makes
// carries log_statement, and the server log holds the grant's
// statements under the role's name, which maps to the grant.
func TestSessionLoggingIsSetOnTheEphemeralRole(t *testing.T) {
	e := newEnv(t)
	bot := e.bot(t, "CREATEROLE")
	u, err := url.Parse(bot)
	if err != nil {
		t.Fatal(err)
	}
	botRole := u.User.Username()
	e.exec(t, `GRANT SET ON PARAMETER log_statement TO `+botRole)
	a := e.adapter(t, bot, func(c *postgres.Config) {
		ephemeral(true, "")(c)
		c.SessionLogging = postgres.SessionLogging{Statements: "all"}
	})
	if err := a.Check(ctxFor(t)); err != nil {
		t.Fatalf("Check with the SET privileges: %v", err)
	}
	req := grantRequest("logged", "g-logged-"+e.sfx, time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	name := lease.Data["role"]
	if name != roleName(t, "logged", req.GrantID) {
		t.Fatalf("role %s is not the grant's name %s", name, roleName(t, "logged", req.GrantID))
	}
	var config []string
	if err := e.admin.QueryRow(ctxFor(t), `SELECT coalesce(rolconfig, '{}') FROM pg_roles WHERE rolname = $1`, name).Scan(&config); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"log_statement=all"} {
		if !slices.Contains(config, want) {
			t.Errorf("role %s has settings %v, want %s among them", name, config, want)
		}
	}
	conn, ok := e.login(t, name, lease.Secret.Value)
	if !ok {
		t.Fatal("cannot log in")
	}
	marker := fmt.Sprintf("SELECT 'grant-statement-%s'", e.sfx)
	if _, err := conn.Exec(ctxFor(t), marker); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		log := e.srv.LogTail(2000)
		if strings.Contains(log, marker) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server log has no line with %q", marker)
		}
	}
}

// TestSessionLoggingNeedsTheSetPrivilege: without SET on the parameters, Check says which
// grant the operator must give, and a grant fails rather than make a role that logs nothing.
func TestSessionLoggingNeedsTheSetPrivilege(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), func(c *postgres.Config) {
		ephemeral(true, "")(c)
		c.SessionLogging = postgres.SessionLogging{Statements: "ddl"}
	})
	err := a.Check(ctxFor(t))
	if err == nil || !strings.Contains(err.Error(), "GRANT SET ON PARAMETER log_statement") {
		t.Fatalf("Check: %v, want it to name GRANT SET ON PARAMETER log_statement", err)
	}
	req := grantRequest("unlogged", "g-unlogged-"+e.sfx, time.Hour)
	if _, err := a.Grant(ctxFor(t), req); err == nil {
		a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Resource: req.Resource, Subject: req.Subject})
		t.Fatal("Grant made a role it could not set log_statement on")
	}
	if exists, _ := e.loginRole(t, roleName(t, "unlogged", req.GrantID)); exists {
		t.Fatal("a failed grant left its role behind")
	}
}

// TestSessionsListsTheGrantsSessionsWithTheirApplication: a session opened with the grant's
// password is listed under the grant, with its application name and client address, under one
// key across samples; once it closes it is gone; another grant's sessions are not listed.
func TestSessionsListsTheGrantsSessionsWithTheirApplication(t *testing.T) {
	e := newEnv(t)
	bot := e.bot(t, "CREATEROLE")
	u, err := url.Parse(bot)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, `GRANT pg_read_all_stats TO `+u.User.Username())
	a := e.adapter(t, bot, ephemeral(true, ""))
	req := grantRequest("sampled", "g-sampled-"+e.sfx, time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	other := grantRequest("idle", "g-idle-"+e.sfx, time.Hour)
	otherLease, err := a.Grant(ctxFor(t), other)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(other, otherLease)) })
	grants := []adapters.RevokeRequest{revokeRequest(req, lease), revokeRequest(other, otherLease)}

	none, err := a.Sessions(ctxFor(t), grants)
	if err != nil || len(none) != 0 {
		t.Fatalf("before any login: %v, %v; want no sessions", none, err)
	}
	conn, err := pgx.Connect(ctxFor(t), e.dsnAs(lease.Data["role"], lease.Secret.Value)+"&application_name=report-tool")
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Sessions(ctxFor(t), grants)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 {
		t.Fatalf("sessions = %+v, want the one session", first)
	}
	s := first[0]
	if s.GrantID != req.GrantID || s.Account != lease.Data["role"] || s.Application != "report-tool" ||
		!strings.HasPrefix(s.Client, "127.0.0.1:") || s.Started.IsZero() || s.Key == "" {
		t.Fatalf("session = %+v, want grant %s, role %s, application report-tool, a client and a start", s, req.GrantID, lease.Data["role"])
	}
	again, err := a.Sessions(ctxFor(t), grants)
	if err != nil || len(again) != 1 || again[0].Key != s.Key {
		t.Fatalf("second sample = %+v, %v; want the same session under key %s", again, err, s.Key)
	}
	conn.Close(context.Background())
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, err := a.Sessions(ctxFor(t), grants)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed session is still listed: %+v", left)
		}
	}
}
