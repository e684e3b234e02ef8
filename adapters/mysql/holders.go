package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// What "holds the resource's access" means for the scan.
//
// The resource's access is a set of (privilege, object) pairs: in grants mode the configured
// grants; in roles mode the privileges the configured roles hold on the server (directly or
// through roles granted to them), and the roles themselves. An account holds the access when,
// directly or through any role granted to it at any depth (default role or not: a user can SET
// ROLE to any role it has), it has at least one of those privileges:
//
//   - globally (ON *.*),
//   - on a database whose name or pattern (GRANT ... ON `shop%`.*) matches the pair's database,
//   - on the pair's table, or, for a pair on a whole database, on any table of it (part of it);
//
// or, in roles mode, has one of the configured roles. Column privileges, routine privileges,
// privileges the adapter cannot grant (see ParsePrivilege) and MySQL's mandatory_roles are not
// read. Roles are not accounts: they are not listed themselves, their members are. Privileges
// held by PUBLIC (MariaDB 10.11) are listed once, under the account "PUBLIC", since every
// account has them. The bot's own login (CURRENT_USER()) is left out.
//
// The bot reads this from the grant tables (mysql.user's privilege columns, mysql.db,
// mysql.tables_priv, and mysql.roles_mapping on MariaDB or mysql.role_edges on MySQL) rather
// than information_schema or SHOW GRANTS, which show other accounts only to a login that may
// read the whole mysql database, password hashes included.

// privColumns maps each privilege the adapter grants to its column in mysql.user and mysql.db.
var privColumns = map[string]string{
	"SELECT": "Select_priv", "INSERT": "Insert_priv", "UPDATE": "Update_priv", "DELETE": "Delete_priv",
	"CREATE": "Create_priv", "DROP": "Drop_priv", "INDEX": "Index_priv", "ALTER": "Alter_priv",
	"REFERENCES": "References_priv", "CREATE VIEW": "Create_view_priv", "SHOW VIEW": "Show_view_priv",
	"TRIGGER": "Trigger_priv", "DELETE HISTORY": "Delete_history_priv", "EXECUTE": "Execute_priv",
	"CREATE ROUTINE": "Create_routine_priv", "ALTER ROUTINE": "Alter_routine_priv", "EVENT": "Event_priv",
	"CREATE TEMPORARY TABLES": "Create_tmp_table_priv", "LOCK TABLES": "Lock_tables_priv",
}

// tablePrivNames maps mysql.tables_priv's Table_priv words to privileges.
var tablePrivNames = map[string]string{"DELETE VERSIONING ROWS": "DELETE HISTORY"}

// held is one privilege a grantee has at one level: Database "*" is global, Table "*" a whole
// database (Database may then be a LIKE pattern).
type held struct {
	priv, db, table string
}

// String writes h as a GRANT would name it: "SELECT ON `shop`.*".
func (h held) String() string {
	switch {
	case h.db == "*":
		return h.priv + " ON *.*"
	case h.table == "*":
		return h.priv + " ON `" + h.db + "`.*"
	}
	return h.priv + " ON `" + h.db + "`.`" + h.table + "`"
}

// grantTables is what the grant tables say: each grantee's own privileges and the roles granted
// to it. A grantee is "user@host"; on MariaDB a role is "role@" (roles have no host).
type grantTables struct {
	privs   map[string][]held
	roles   map[string][]string
	isRole  map[string]bool
	account []string // user@host of every account that is not a role, in order
	// like caches the database patterns of mysql.db, compiled.
	like map[string]*regexp.Regexp
}

// privColumnList returns the privilege columns this server has, in a fixed order.
func privColumnList(mariadb bool) []string {
	var privs []string
	for p := range privColumns {
		if p == "DELETE HISTORY" && !mariadb {
			continue
		}
		privs = append(privs, p)
	}
	sort.Strings(privs)
	return privs
}

// readGrantTables reads the grant tables; with limit0 it only checks that the bot may.
func readGrantTables(ctx context.Context, conn *sql.Conn, mariadb, limit0 bool) (*grantTables, error) {
	privs := privColumnList(mariadb)
	cols := make([]string, len(privs))
	for i, p := range privs {
		cols[i] = privColumns[p]
	}
	limit := ""
	if limit0 {
		limit = " LIMIT 0"
	}
	g := &grantTables{privs: map[string][]held{}, roles: map[string][]string{}, isRole: map[string]bool{}, like: map[string]*regexp.Regexp{}}
	isRole := "'N'"
	if mariadb {
		isRole = "is_role"
	}
	scanPrivs := func(what, query string, lead int, add func(lead []string, priv string)) error {
		return scanRows(ctx, conn, func(r *sql.Rows) error {
			vals := make([]sql.NullString, lead+len(cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				return fmt.Errorf("read %s: %w", what, err)
			}
			head := make([]string, lead)
			for i := range head {
				head[i] = vals[i].String
			}
			// An empty privilege announces the row itself, for mysql.user's list of accounts.
			add(head, "")
			for i, p := range privs {
				if strings.EqualFold(vals[lead+i].String, "Y") {
					add(head, p)
				}
			}
			return nil
		}, query+limit)
	}
	if err := scanPrivs("mysql.user", "SELECT User, Host, "+isRole+", "+strings.Join(cols, ", ")+" FROM mysql.user", 3, func(h []string, priv string) {
		key := h[0] + "@" + h[1]
		if priv == "" {
			if strings.EqualFold(h[2], "Y") {
				g.isRole[h[0]+"@"] = true
			} else {
				g.account = append(g.account, key)
			}
			return
		}
		if strings.EqualFold(h[2], "Y") {
			key = h[0] + "@"
		}
		g.privs[key] = append(g.privs[key], held{priv: priv, db: "*", table: "*"})
	}); err != nil {
		return nil, err
	}
	if err := scanPrivs("mysql.db", "SELECT User, Host, Db, "+strings.Join(cols, ", ")+" FROM mysql.db", 3, func(h []string, priv string) {
		if priv != "" {
			key := h[0] + "@" + h[1]
			g.privs[key] = append(g.privs[key], held{priv: priv, db: h[2], table: "*"})
		}
	}); err != nil {
		return nil, err
	}
	if err := scanRows(ctx, conn, func(r *sql.Rows) error {
		var user, host, db, table, set string
		if err := r.Scan(&user, &host, &db, &table, &set); err != nil {
			return fmt.Errorf("read mysql.tables_priv: %w", err)
		}
		key := user + "@" + host
		for _, p := range strings.Split(set, ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if n, ok := tablePrivNames[p]; ok {
				p = n
			}
			if _, ok := privColumns[p]; ok {
				g.privs[key] = append(g.privs[key], held{priv: p, db: db, table: table})
			}
		}
		return nil
	}, "SELECT User, Host, Db, Table_name, Table_priv FROM mysql.tables_priv"+limit); err != nil {
		return nil, err
	}
	edges := "SELECT User, Host, Role, '' FROM mysql.roles_mapping"
	if !mariadb {
		edges = "SELECT TO_USER, TO_HOST, FROM_USER, FROM_HOST FROM mysql.role_edges"
	}
	if err := scanRows(ctx, conn, func(r *sql.Rows) error {
		var user, host, role, roleHost string
		if err := r.Scan(&user, &host, &role, &roleHost); err != nil {
			return fmt.Errorf("read role grants: %w", err)
		}
		key := user + "@" + host
		if mariadb && g.isRole[user+"@"] && host == "" {
			key = user + "@"
		}
		rk := role + "@" + roleHost
		if !mariadb {
			g.isRole[rk] = true
		}
		g.roles[key] = append(g.roles[key], rk)
		return nil
	}, edges+limit); err != nil {
		return nil, err
	}
	if !mariadb {
		// MySQL keeps roles in mysql.user as locked accounts; the ones granted to someone are
		// treated as roles, not listed as accounts.
		accounts := g.account[:0]
		for _, a := range g.account {
			if !g.isRole[a] {
				accounts = append(accounts, a)
			}
		}
		g.account = accounts
	}
	return g, nil
}

// effective returns the privileges grantee has, each with the role it comes through ("" for its
// own), and the roles it has, at any depth.
func (g *grantTables) effective(grantee string) (privs []held, via []string, roles map[string]bool) {
	roles = map[string]bool{}
	var walk func(key, through string)
	walk = func(key, through string) {
		for _, h := range g.privs[key] {
			privs, via = append(privs, h), append(via, through)
		}
		for _, r := range g.roles[key] {
			if roles[r] {
				continue
			}
			roles[r] = true
			walk(r, strings.TrimSuffix(r, "@"))
		}
	}
	walk(grantee, "")
	return privs, via, roles
}

// likeRE turns a database name pattern of mysql.db (LIKE: % any, _ one character, \ escapes)
// into a regular expression.
func likeRE(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// dbMatches reports whether a database name or pattern of the grant tables matches db.
func (g *grantTables) dbMatches(pattern, db string) bool {
	if pattern == db {
		return true
	}
	re, ok := g.like[pattern]
	if !ok {
		re = likeRE(pattern)
		g.like[pattern] = re
	}
	return re.MatchString(db)
}

// covers reports whether h gives at least part of want: the same privilege, globally, on a
// database matching want's, on want's table, or on a table of want's database.
func (g *grantTables) covers(h, want held) bool {
	if h.priv != want.priv {
		return false
	}
	switch {
	case h.db == "*":
		return true
	case want.db == "*":
		return false
	case h.table == "*":
		return g.dbMatches(h.db, want.db)
	}
	return h.db == want.db && (want.table == "*" || h.table == want.table)
}

// managed returns the pairs the resource grants and, in roles mode, the roles themselves.
func (m *MySQL) managed(g *grantTables) (pairs []held, roles map[string]bool) {
	roles = map[string]bool{}
	for _, p := range m.grants {
		for _, priv := range p.Privileges {
			pairs = append(pairs, held{priv: priv, db: p.Database, table: p.Table})
		}
	}
	for _, r := range m.cfg.Roles {
		// MariaDB roles have no host; on MySQL a role is user@host with host '%' by default.
		for _, key := range []string{r + "@", r + "@%"} {
			if !g.isRole[key] {
				continue
			}
			roles[key] = true
			privs, _, nested := g.effective(key)
			pairs = append(pairs, privs...)
			for n := range nested {
				roles[n] = true
			}
		}
	}
	return pairs, roles
}

// holdings says what of the resource's access grantee holds, one phrase per privilege or role
// ("SELECT ON `shop`.* through role reader"), or nothing.
func (m *MySQL) holdings(g *grantTables, grantee string, pairs []held, managedRoles map[string]bool) []string {
	privs, via, roles := g.effective(grantee)
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, r := range m.cfg.Roles {
		if roles[r+"@"] || roles[r+"@%"] {
			add("role " + r)
		}
	}
	for i, h := range privs {
		for _, want := range pairs {
			if !g.covers(h, want) {
				continue
			}
			s := h.String()
			if via[i] != "" {
				if managedRoles[via[i]+"@"] || managedRoles[via[i]+"@%"] || managedRoles[via[i]] {
					// Already said: "role reader".
					break
				}
				s += " through role " + via[i]
			}
			add(s)
			break
		}
	}
	return out
}
