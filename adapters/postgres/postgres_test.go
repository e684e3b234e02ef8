package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/adaptertest"
	"github.com/accessbot/accessbot/adapters/postgres"
)

func TestMembershipModePassesTheConformanceKit(t *testing.T) {
	e := newEnv(t)
	// The bot holds ADMIN OPTION on the two roles and SELECT, INSERT, DELETE on the holders
	// table, nothing else: no superuser, no CREATEROLE.
	a := e.adapter(t, e.bot(t, "", e.reader, e.writer), membership)
	roles := []string{e.reader, e.writer}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter:  a,
		Resource: "test-db", // the adapter's own name: List reports this resource's grants
		Subject:  e.personSubject(t),
		Lister:   true,
		Has: func(t *testing.T, s adapters.Subject, grantID string) bool {
			n := e.memberships(t, s.Account, roles...)
			if n > 0 && n < len(roles) {
				t.Errorf("%s is a member of %d of the %d roles", s.Account, n, len(roles))
			}
			return n > 0
		},
	})
}

func TestEphemeralModePassesTheConformanceKit(t *testing.T) {
	e := newEnv(t)
	// CREATEROLE is all the bot has.
	rec := record(e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, "")))
	roles := []string{e.reader, e.writer}
	has := func(t *testing.T, s adapters.Subject, grantID string) bool {
		name := roleName(t, s.Account, grantID)
		exists, login := e.loginRole(t, name)
		if !exists {
			return false
		}
		if n := e.memberships(t, name, roles...); n != len(roles) {
			t.Errorf("role %s is a member of %d of the %d roles", name, n, len(roles))
		}
		if pw, ok := rec.password(grantID); ok && login && !e.canRead(t, name, pw) {
			t.Errorf("role %s exists but cannot log in and read with the password it was given", name)
		}
		return login
	}
	adaptertest.Run(t, adaptertest.Harness{
		Adapter: rec,
		Lister:  true,
		Has:     has,
		Count: func(t *testing.T, s adapters.Subject) int {
			var n int
			err := e.admin.QueryRow(ctxFor(t), `SELECT count(*) FROM pg_roles WHERE rolname ~ ('^ab_' || $1 || '_[0-9a-f]{10}$')`, s.Account).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		Usable: func(t *testing.T, s adapters.Subject, grantID string) bool {
			pw, ok := rec.password(grantID)
			if !ok {
				t.Fatalf("no password recorded for grant %s", grantID)
			}
			return e.canLogin(t, roleName(t, s.Account, grantID), pw)
		},
		NativeExpiry:   true,
		NativeLifetime: 2 * time.Second,
		ExpiryWait:     10 * time.Second,
	})
}

func TestEphemeralGrantReturnsThePasswordOnlyAsTheSecret(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	a := newAdapter(t, e.bot(t, "CREATEROLE"), zerolog.New(&logs).Level(zerolog.DebugLevel), func(c *postgres.Config) {
		c.Roles = []string{e.reader}
		ephemeral(true, "")(c)
	})
	req := grantRequest("secretive", "g-secret", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	name := roleName(t, "secretive", "g-secret")
	if lease.Secret == nil || lease.Secret.Kind != "password" || len(lease.Secret.Value) < 24 {
		t.Fatalf("secret = %+v, want a password of 24+ characters", lease.Secret)
	}
	if !strings.Contains(lease.Secret.Label, name) {
		t.Errorf("secret label %q does not name the user %s", lease.Secret.Label, name)
	}
	if strings.Contains(lease.Secret.Label, lease.Secret.Value) {
		t.Error("secret label carries the password")
	}
	if strings.Contains(logs.String(), lease.Secret.Value) {
		t.Error("log carries the password")
	}
	if !e.canRead(t, name, lease.Secret.Value) {
		t.Fatal("cannot log in and read with the returned password")
	}
	// The server stores a SCRAM verifier, never the password.
	var stored string
	if err := e.admin.QueryRow(ctxFor(t), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, name).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
		t.Errorf("stored password is not a SCRAM-SHA-256 verifier: %.20q...", stored)
	}

	// A repeated grant (the first answer lost) gets a new password; the old one stops working.
	again, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Secret == nil || again.Secret.Value == lease.Secret.Value {
		t.Fatal("second grant did not return a new password")
	}
	if e.canLogin(t, name, lease.Secret.Value) {
		t.Error("first password still works after the grant was repeated")
	}
	if !e.canLogin(t, name, again.Secret.Value) {
		t.Error("second password does not work")
	}
}

func TestEphemeralLoginIsRefusedOnceValidUntilHasPassed(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	req := grantRequest("expiring", "g-expiring", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })
	name, pw := lease.Data["role"], lease.Secret.Value
	if !e.canLogin(t, name, pw) {
		t.Fatal("cannot log in right after grant")
	}
	var until time.Time
	if err := e.admin.QueryRow(ctxFor(t), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, name).Scan(&until); err != nil {
		t.Fatal(err)
	}
	if !until.Equal(req.Expires) {
		t.Errorf("VALID UNTIL is %s, want the grant's expiry %s", until, req.Expires)
	}

	// Moving VALID UNTIL into the past is what the server sees when the expiry passes while
	// accessbot is down: no new login, with no revoke.
	if err := a.Extend(ctxFor(t), revokeRequest(req, lease), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if e.canLogin(t, name, pw) {
		t.Fatal("login succeeded after VALID UNTIL passed")
	}
	if err := a.Extend(ctxFor(t), revokeRequest(req, lease), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !e.canLogin(t, name, pw) {
		t.Fatal("login refused after extending VALID UNTIL into the future")
	}
}

func TestExtendOfARevokedEphemeralGrantIsPermanent(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	req := grantRequest("gone", "g-gone", time.Hour)
	err := a.Extend(ctxFor(t), revokeRequest(req, adapters.Lease{}), time.Now().Add(time.Hour))
	if !adapters.IsPermanent(err) {
		t.Fatalf("extend of a role that does not exist: got %v, want a permanent error", err)
	}
}

func TestRevokeTerminatesALiveSessionOfTheEphemeralUser(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	req := grantRequest("live", "g-live", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	name := lease.Data["role"]
	conn, ok := e.login(t, name, lease.Secret.Value)
	if !ok {
		t.Fatal("cannot log in")
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctxFor(t), `SELECT 1`); err != nil {
		t.Fatal(err)
	}

	if err := a.Revoke(ctxFor(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctxFor(t), `SELECT 1`); err == nil {
		t.Fatal("the session opened before revoke still runs statements")
	}
	var sessions int
	if err := e.admin.QueryRow(ctxFor(t), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, name).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 {
		t.Fatalf("%d sessions of %s remain after revoke", sessions, name)
	}
	if exists, _ := e.loginRole(t, name); exists {
		t.Fatalf("role %s still exists after revoke", name)
	}
}

func TestRevokeOfARoleThatOwnsATable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		drop      bool
		wantTable bool
	}{
		{name: "reassigns the table to reassign_to", drop: false, wantTable: true},
		{name: "drops the table with on_revoke_owned drop", drop: true, wantTable: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// The bot is not a member of owner: the reassign path has to take the membership
			// for itself and give it back.
			a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(tc.drop, e.owner))
			req := grantRequest("creator", "g-creator", time.Hour)
			lease, err := a.Grant(ctxFor(t), req)
			if err != nil {
				t.Fatal(err)
			}
			name := lease.Data["role"]
			conn, ok := e.login(t, name, lease.Secret.Value)
			if !ok {
				t.Fatal("cannot log in")
			}
			table := pgx.Identifier{e.schema, "made_during_incident"}.Sanitize()
			if _, err := conn.Exec(ctxFor(t), `CREATE TABLE `+table+` (id int)`); err != nil {
				t.Fatalf("create a table as the ephemeral role: %v", err)
			}
			conn.Close(context.Background())

			if err := a.Revoke(ctxFor(t), revokeRequest(req, lease)); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if exists, _ := e.loginRole(t, name); exists {
				t.Fatalf("role %s still exists after revoke", name)
			}
			var owner *string
			if err := e.admin.QueryRow(ctxFor(t), `SELECT (SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'made_during_incident')`, e.schema).Scan(&owner); err != nil {
				t.Fatal(err)
			}
			if got := owner != nil; got != tc.wantTable {
				t.Fatalf("table exists after revoke: %v, want %v", got, tc.wantTable)
			}
			if tc.wantTable && *owner != e.owner {
				t.Errorf("table owner is %s, want %s", *owner, e.owner)
			}
		})
	}
}

func TestTheBotGivesBackTheMembershipsItTookToRevoke(t *testing.T) {
	e := newEnv(t)
	botDSN := e.bot(t, "CREATEROLE")
	bot := strings.SplitN(strings.TrimPrefix(botDSN, "postgres://"), ":", 2)[0]
	a := e.adapter(t, botDSN, ephemeral(false, e.owner))
	req := grantRequest("tidy", "g-tidy", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	rows, err := e.admin.Query(ctxFor(t), `SELECT r.rolname FROM pg_auth_members am
		JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE m.rolname = $1`, bot)
	if err != nil {
		t.Fatal(err)
	}
	memberships, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(memberships) != 0 {
		t.Fatalf("after revoke the bot %s is still a member of %v", bot, memberships)
	}
}

// unreachable is a DSN where nothing listens: any SQL sent there fails with a retryable
// connection error, so a permanent validation error proves nothing was sent.
const unreachable = "postgres://bot:pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"

func TestBadIdentifiersAreRefusedBeforeAnySQL(t *testing.T) {
	bad := []string{
		`alice"; DROP ROLE postgres; --`,
		`alice'; DROP ROLE postgres; --`,
		`al;ice`,
		`Alice`,
		`ALICE`,
		`al ice`,
		`1alice`,
		`al-ice`,
		`al.ice`,
		`ålice`,
		``,
		`public`,
		strings.Repeat("a", 64),
	}
	for _, mode := range []struct {
		name string
		edit func(*postgres.Config)
	}{{"membership", membership}, {"ephemeral", ephemeral(true, "")}} {
		a := newAdapter(t, unreachable, zerolog.Nop(), func(c *postgres.Config) {
			c.Roles = []string{"reader"}
			mode.edit(c)
		})
		for _, account := range bad {
			t.Run(mode.name+" refuses "+fmt.Sprintf("%q", account), func(t *testing.T) {
				req := grantRequest(account, "g-bad", time.Hour)
				_, err := a.Grant(ctxFor(t), req)
				if !adapters.IsPermanent(err) {
					t.Fatalf("grant: got %v, want a permanent validation error", err)
				}
				// Grant refused it, so nothing exists to revoke: success, without SQL.
				if err := a.Revoke(ctxFor(t), revokeRequest(req, adapters.Lease{})); err != nil {
					t.Fatalf("revoke without lease data: %v", err)
				}
			})
		}
	}
	t.Run("lease data with a bad role name is refused", func(t *testing.T) {
		a := newAdapter(t, unreachable, zerolog.Nop(), func(c *postgres.Config) {
			c.Roles = []string{"reader"}
			ephemeral(true, "")(c)
		})
		for _, data := range []map[string]string{
			{"role": `ab_x"; DROP ROLE postgres; --`},
			{"role": "postgres"}, // no prefix: not one of the adapter's roles
		} {
			req := adapters.RevokeRequest{GrantID: "g-x", Subject: adapters.Subject{Account: "x"}, Data: data}
			if err := a.Revoke(ctxFor(t), req); !adapters.IsPermanent(err) {
				t.Errorf("revoke with lease %v: got %v, want a permanent error", data, err)
			}
		}
	})
}

func TestAnUnreachableServerIsRetryable(t *testing.T) {
	a := newAdapter(t, unreachable, zerolog.Nop(), func(c *postgres.Config) {
		c.Roles = []string{"reader"}
		ephemeral(true, "")(c)
	})
	req := grantRequest("alice", "g-unreachable", time.Hour)
	if _, err := a.Grant(ctxFor(t), req); err == nil || adapters.IsPermanent(err) {
		t.Errorf("grant: got %v, want a retryable error", err)
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, adapters.Lease{})); err == nil || adapters.IsPermanent(err) {
		t.Errorf("revoke: got %v, want a retryable error", err)
	}
	if err := a.Check(ctxFor(t)); err == nil || adapters.IsPermanent(err) {
		t.Errorf("check: got %v, want a retryable error", err)
	}
}

func TestGrantAndRevokeLeaveRolesTheyDidNotMakeAlone(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	req := grantRequest("squatter", "g-squat", time.Hour)
	name := roleName(t, "squatter", "g-squat")
	e.createRole(t, name, "LOGIN PASSWORD 'theirs'")

	if _, err := a.Grant(ctxFor(t), req); !adapters.IsPermanent(err) {
		t.Fatalf("grant over an existing role: got %v, want a permanent error", err)
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, adapters.Lease{})); !adapters.IsPermanent(err) {
		t.Fatalf("revoke of a role the adapter did not make: got %v, want a permanent error", err)
	}
	if !e.canLogin(t, name, "theirs") {
		t.Fatal("the existing role was changed")
	}
}

func TestMembershipGrantToAnAccountWithoutARoleIsPermanent(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "", e.reader, e.writer), membership)
	_, err := a.Grant(ctxFor(t), grantRequest("nobody_"+e.sfx, "g-nobody", time.Hour))
	if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v, want a permanent error saying the role does not exist", err)
	}
}

func TestMembershipRevokeRemovesOnlyTheManagedRoles(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "", e.reader, e.writer), membership)
	account := "carol_" + e.sfx
	e.person(t, account)
	e.exec(t, fmt.Sprintf(`GRANT %s TO %s`, e.owner, account))
	req := grantRequest(account, "g-carol", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if !e.canRead(t, account, personPassword) {
		t.Fatal("cannot read after grant")
	}
	if err := a.Revoke(ctxFor(t), revokeRequest(req, lease)); err != nil {
		t.Fatal(err)
	}
	if e.canRead(t, account, personPassword) {
		t.Fatal("can still read after revoke")
	}
	if e.memberships(t, account, e.owner) != 1 {
		t.Fatal("revoke removed a membership the adapter does not manage")
	}
}

// Two resources share the reader role. Revoking one grant used to REVOKE reader from the person
// while the other grant still needed it.
func TestMembershipGrantsThatShareARoleAreCounted(t *testing.T) {
	e := newEnv(t)
	bot := e.bot(t, "", e.reader, e.writer)
	both := e.adapter(t, bot, membership)
	readOnly := e.adapterFor(t, "test-db-readonly", bot, func(c *postgres.Config) {
		membership(c)
		c.Roles = []string{e.reader}
	})
	account := "frank_" + e.sfx
	e.person(t, account)
	first := grantRequest(account, "g-frank-1", time.Hour)
	second := grantRequest(account, "g-frank-2", time.Hour)
	second.Resource = "test-db-readonly"
	firstLease, err := both.Grant(ctxFor(t), first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readOnly.Grant(ctxFor(t), second); err != nil {
		t.Fatal(err)
	}
	if e.holds(t, account, e.reader, e.writer) != 2 {
		t.Fatal("after both grants the person lacks a role")
	}
	for _, a := range []*postgres.Postgres{both, readOnly} {
		if held, err := a.Holds(ctxFor(t), first.Subject); err != nil || held {
			t.Fatalf("holds = %v, %v: access through accessbot's grants counted as standing", held, err)
		}
	}

	if err := both.Revoke(ctxFor(t), revokeRequest(first, firstLease)); err != nil {
		t.Fatal(err)
	}
	if !e.canRead(t, account, personPassword) || e.holds(t, account, e.reader) != 1 {
		t.Fatal("revoking the first grant took reader away while the second grant still needs it")
	}
	if e.holds(t, account, e.writer) != 0 {
		t.Fatal("writer, which only the first grant gave, is still held after its revocation")
	}
	// Each resource's scan reports its own grants: the membership the second grant holds is
	// the second resource's, and is no finding of the first.
	list, err := readOnly.List(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Account != account || list[0].GrantID != second.GrantID || !strings.Contains(list[0].Detail, e.reader) {
		t.Fatalf("list of the second resource = %+v, want reader under the second grant", list)
	}
	if list, err := both.List(ctxFor(t)); err != nil || len(list) != 0 {
		t.Fatalf("list of the first resource = %+v, %v; want nothing (reader is held by the other resource's grant)", list, err)
	}

	// A revocation without lease data (a crash before the lease was stored) finds the grant's
	// rows in the holders table.
	if err := readOnly.Revoke(ctxFor(t), revokeRequest(second, adapters.Lease{})); err != nil {
		t.Fatal(err)
	}
	if e.canRead(t, account, personPassword) || e.holds(t, account, e.reader, e.writer) != 0 {
		t.Fatal("the person still holds a role after the last grant ended")
	}
}

// A person who is a member of the roles already, granted by hand: accessbot neither grants nor
// takes away what it did not give.
func TestAStandingMembershipIsNeverGrantedNorRevoked(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "", e.reader, e.writer), membership)
	account := "gina_" + e.sfx
	e.person(t, account)
	e.exec(t, fmt.Sprintf(`GRANT %s, %s TO %s`, e.reader, e.writer, account))
	req := grantRequest(account, "g-gina", time.Hour)

	held, err := a.Holds(ctxFor(t), req.Subject)
	if err != nil || !held {
		t.Fatalf("holds = %v, %v; want true for a standing member (the request is answered that she has it)", held, err)
	}
	// Approved anyway (the membership came between the request and the approval): the grant
	// and both revocations, with and without lease data, leave the standing membership alone.
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if lease.Data["preexisting"] != "true" {
		t.Errorf("lease data %v, want preexisting recorded", lease.Data)
	}
	// A second grant while the first is active finds the membership standing too.
	later := grantRequest(account, "g-gina-2", time.Hour)
	laterLease, err := a.Grant(ctxFor(t), later)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range []adapters.RevokeRequest{
		revokeRequest(req, lease), revokeRequest(req, adapters.Lease{}), revokeRequest(later, laterLease),
	} {
		if err := a.Revoke(ctxFor(t), rr); err != nil {
			t.Fatal(err)
		}
		if e.memberships(t, account, e.reader, e.writer) != 2 || !e.canRead(t, account, personPassword) {
			t.Fatalf("revoking %s (lease data %v) removed a membership that existed before any grant", rr.GrantID, rr.Data)
		}
	}

	list, err := a.List(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	var standing bool
	for _, acc := range list {
		if acc.Account == account {
			if acc.GrantID != "" {
				t.Errorf("after revoke the list still shows a grant: %+v", acc)
			}
			standing = true
		}
	}
	if !standing {
		t.Errorf("list %+v lacks the standing member", list)
	}

	partial := "hana_" + e.sfx
	e.person(t, partial)
	e.exec(t, fmt.Sprintf(`GRANT %s TO %s`, e.reader, partial))
	if held, err := a.Holds(ctxFor(t), grantRequest(partial, "g-hana", time.Hour).Subject); err != nil || held {
		t.Fatalf("holds = %v, %v for a member of one role of two; want false", held, err)
	}
}

func TestListShowsStandingMembersAndEphemeralRoles(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	standing := "dave_" + e.sfx
	e.person(t, standing)
	e.exec(t, fmt.Sprintf(`GRANT %s TO %s`, e.reader, standing))
	req := grantRequest("erin_"+e.sfx, "g-erin", time.Hour)
	lease, err := a.Grant(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, lease)) })

	list, err := a.List(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	var sawStanding, sawGrant bool
	for _, acc := range list {
		switch acc.Account {
		case standing:
			sawStanding = true
			if acc.GrantID != "" || !strings.Contains(acc.Detail, e.reader) {
				t.Errorf("standing member listed as %+v", acc)
			}
		case req.Subject.Account:
			sawGrant = true
			if acc.GrantID != req.GrantID || !strings.Contains(acc.Detail, lease.Data["role"]) || !strings.Contains(acc.Detail, "valid until") {
				t.Errorf("ephemeral role listed as %+v", acc)
			}
		}
		if strings.HasPrefix(acc.Account, "bot_") {
			t.Errorf("list shows the bot itself: %+v", acc)
		}
	}
	if !sawStanding || !sawGrant {
		t.Fatalf("list %+v lacks the standing member (%v) or the grant (%v)", list, sawStanding, sawGrant)
	}
}

func TestCheckVerifiesTheBotsPrivileges(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		bot     func() string
		edit    func(*postgres.Config)
		wantErr string
	}{
		{"ephemeral with CREATEROLE passes", func() string { return e.bot(t, "CREATEROLE") }, ephemeral(false, e.owner), ""},
		{"ephemeral without CREATEROLE fails", func() string { return e.bot(t, "", e.reader, e.writer) }, ephemeral(true, ""), "CREATEROLE"},
		{"membership with ADMIN OPTION passes", func() string { return e.bot(t, "", e.reader, e.writer) }, membership, ""},
		{"membership with CREATEROLE passes", func() string { return e.bot(t, "CREATEROLE") }, membership, ""},
		{"membership with ADMIN OPTION on one role of two fails", func() string { return e.bot(t, "", e.reader) }, membership, e.writer},
		{"membership without the holders table fails, saying how to create it", func() string { return e.bot(t, "", e.reader, e.writer) }, func(c *postgres.Config) {
			membership(c)
			c.HoldersTable = "no_such_holders"
		}, "CREATE TABLE no_such_holders"},
		{"membership without privileges on the holders table fails", func() string { return e.bot(t, "", e.reader, e.writer) }, func(c *postgres.Config) {
			membership(c)
			c.HoldersTable = "closed_holders"
		}, "SELECT, INSERT and DELETE"},
		{"an unknown role fails", func() string { return e.bot(t, "CREATEROLE") }, func(c *postgres.Config) {
			membership(c)
			c.Roles = append(c.Roles, "no_such_role")
		}, "no_such_role"},
		{"an unknown reassign_to fails", func() string { return e.bot(t, "CREATEROLE") }, ephemeral(false, "no_such_owner"), "no_such_owner"},
		{"a wrong bot password fails", func() string { return e.dsnAs("postgres_nobody", "x") }, membership, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.adapter(t, tc.bot(), tc.edit)
			err := a.Check(ctxFor(t))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if !adapters.IsPermanent(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check: got %v, want a permanent error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	base := func(c *postgres.Config) {
		c.DSN = "postgres://bot:pw@db.example.com/app"
		c.Roles = []string{"reader"}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*postgres.Config)
		wantErr string
	}{
		{"membership is valid", membership, ""},
		{"a holders table in schema public is valid", func(c *postgres.Config) { membership(c); c.HoldersTable = "public.accessbot_holders" }, ""},
		{"a holders table with three parts is refused", func(c *postgres.Config) { membership(c); c.HoldersTable = "db.public.holders" }, "holders_table"},
		{"a holders table that is not a plain name is refused", func(c *postgres.Config) { membership(c); c.HoldersTable = `holders"; DROP TABLE x; --` }, "holders_table"},
		{"ephemeral with drop is valid", ephemeral(true, ""), ""},
		{"ephemeral with reassign is valid", ephemeral(false, "owner"), ""},
		{"ephemeral with statement logging is valid", func(c *postgres.Config) { ephemeral(true, "")(c); c.SessionLogging.Statements = "mod" }, ""},
		{"an unknown statement logging level is refused", func(c *postgres.Config) {
			ephemeral(true, "")(c)
			c.SessionLogging.Statements = "all'; DROP ROLE x; --"
		}, "session_logging.statements"},
		{"statement logging in membership mode is refused", func(c *postgres.Config) { membership(c); c.SessionLogging.Statements = "all" }, "ephemeral mode only"},
		{"a missing dsn is refused", func(c *postgres.Config) { membership(c); c.DSN = "" }, "dsn is required"},
		{"a broken dsn is refused without echoing it", func(c *postgres.Config) { membership(c); c.DSN = "postgres://bot:s3cret@host:notaport/db" }, "not a valid"},
		{"a missing mode is refused", func(c *postgres.Config) {}, "mode is required"},
		{"an unknown mode is refused", func(c *postgres.Config) { c.Mode = "temporary" }, "mode must be"},
		{"no roles is refused", func(c *postgres.Config) { membership(c); c.Roles = nil }, "roles is required"},
		{"a role with a quote is refused", func(c *postgres.Config) { membership(c); c.Roles = []string{`reader"; --`} }, "roles"},
		{"an upper-case role is refused", func(c *postgres.Config) { membership(c); c.Roles = []string{"Reader"} }, "roles"},
		{"a role with a semicolon is refused", func(c *postgres.Config) { membership(c); c.Roles = []string{"reader;drop"} }, "roles"},
		{"a role listed twice is refused", func(c *postgres.Config) { membership(c); c.Roles = []string{"reader", "reader"} }, "twice"},
		{"a role with the prefix is refused", func(c *postgres.Config) { membership(c); c.Roles = []string{"ab_reader"} }, "role_prefix"},
		{"a bad prefix is refused", func(c *postgres.Config) { membership(c); c.RolePrefix = "AB-" }, "role_prefix"},
		{"a pg_ prefix is refused", func(c *postgres.Config) { membership(c); c.RolePrefix = "pg_x_" }, "reserved"},
		{"a long prefix is refused", func(c *postgres.Config) { membership(c); c.RolePrefix = strings.Repeat("a", 21) }, "role_prefix"},
		{"ephemeral without on_revoke_owned is refused", func(c *postgres.Config) { c.Mode = postgres.ModeEphemeral }, "on_revoke_owned is required"},
		{"reassign without reassign_to is refused", ephemeral(false, ""), "reassign_to is required"},
		{"a bad reassign_to is refused", ephemeral(false, `owner"`), "reassign_to"},
		{"reassign_to with drop is refused", func(c *postgres.Config) { ephemeral(true, "")(c); c.ReassignTo = "owner" }, "drop"},
		{"on_revoke_owned in membership mode is refused", func(c *postgres.Config) { membership(c); c.OnRevokeOwned = postgres.OwnedDrop }, "ephemeral mode only"},
		{"a zero timeout is refused", func(c *postgres.Config) { membership(c); c.Timeout = 0 }, "positive"},
		{"zero max_conns is refused", func(c *postgres.Config) { membership(c); c.MaxConns = 0 }, "max_conns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := postgres.NewConfig()
			base(cfg)
			tc.edit(cfg)
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate: got %v, want an error mentioning %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("validate error carries the DSN's password: %v", err)
			}
		})
	}
}

func TestConfigNeverPrintsTheDSN(t *testing.T) {
	cfg := postgres.NewConfig()
	cfg.DSN = "postgres://bot:s3cret@db.example.com/app"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, "s3cret") {
			t.Errorf("%s prints the DSN: %s", verb, out)
		}
		if out := fmt.Sprintf(verb, *cfg); strings.Contains(out, "s3cret") {
			t.Errorf("%s of the value prints the DSN: %s", verb, out)
		}
	}
}

func TestEphemeralRoleNamesAreValidAndFit(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct{ account, grant string }{
		{"alice", "g-1"},
		{long, "g-2"},
		{"bob", strings.Repeat("x", 500)},
	} {
		name, err := postgres.EphemeralRoleName("ab_", tc.account, tc.grant)
		if err != nil {
			t.Fatalf("%q: %v", tc.account, err)
		}
		if len(name) > 63 || !strings.HasPrefix(name, "ab_") || postgres.ValidIdent(name) != nil {
			t.Errorf("name %q for account %q is not a valid prefixed role name of at most 63 bytes", name, tc.account)
		}
		again, _ := postgres.EphemeralRoleName("ab_", tc.account, tc.grant)
		other, _ := postgres.EphemeralRoleName("ab_", tc.account, tc.grant+"x")
		if again != name || other == name {
			t.Errorf("names are not one per grant: %q %q %q", name, again, other)
		}
	}
}

func BenchmarkGrantRevoke(b *testing.B) {
	for _, mode := range []string{"membership", "ephemeral"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			var a *postgres.Postgres
			account := "bench_" + e.sfx
			if mode == "membership" {
				a = e.adapter(b, e.bot(b, "", e.reader, e.writer), membership)
				e.person(b, account)
			} else {
				a = e.adapter(b, e.bot(b, "CREATEROLE"), ephemeral(true, ""))
			}
			ctx := context.Background()
			n := 0
			for b.Loop() {
				n++
				i := n
				req := grantRequest(account, fmt.Sprintf("g-bench-%d", i), time.Hour)
				lease, err := a.Grant(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Revoke(ctx, revokeRequest(req, lease)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func TestConcurrentGrantsOfOneGrantMakeOneRole(t *testing.T) {
	e := newEnv(t)
	a := e.adapter(t, e.bot(t, "CREATEROLE"), ephemeral(true, ""))
	req := grantRequest("racer", "g-race", time.Hour)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := a.Grant(context.Background(), req)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent grant: %v", err)
		}
	}
	t.Cleanup(func() { a.Revoke(context.Background(), revokeRequest(req, adapters.Lease{})) })
	var n int
	if err := e.admin.QueryRow(ctxFor(t), `SELECT count(*) FROM pg_roles WHERE starts_with(rolname, 'ab_racer_')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d roles after concurrent grants of one grant, want 1", n)
	}
}
