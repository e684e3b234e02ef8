package redis

import (
	"context"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// What "holds the resource's access" means for the scan.
//
// A permission set is what one ACL selector allows: the commands it may run, the key patterns it
// may read or write and the channel patterns it may use. A user holds the resource's access when
// the user is on and its root permissions, or one of its selectors on its own, allow at least what
// a grant's user is allowed by the configured rules (applied after "reset", as Grant applies them):
//
//   - commands: every command (or subcommand of a container command such as CONFIG) the rules
//     allow, the user allows too, categories resolved against the server's own command table
//     (COMMAND INFO); a first-argument rule (+select|0) is covered by the same rule or by the whole
//     command;
//   - keys: for each key pattern of the rules and each of its permissions (read, write), the user
//     has a pattern with that permission that covers it;
//   - channels: each channel pattern of the rules is covered by one of the user's.
//
// A pattern covers another when they are the same, or when it is a plain prefix followed by one
// "*" ("*", "app*", "app:*") and the other starts with that prefix. That is sound (every key the
// other matches, it matches too) but not complete: "a[bc]*" does not cover "ab*" here, and a
// user whose access is spread over several selectors that each hold only part of it is not
// counted. Users that are off cannot log in and hold nothing.

// permSet is what one selector allows.
type permSet struct {
	cmds cmdSet
	// keys maps a key pattern to its permissions: 'R', 'W' or both.
	keys     map[string]string
	channels map[string]bool
}

// cmdSet is the commands a selector allows, as leaf units: "get", or "config|get" for the
// subcommand of a container command.
type cmdSet struct {
	allowed map[string]bool
	// firstArgs are +command|arg rules of commands that are not containers.
	firstArgs map[string]map[string]bool
}

// commandTable is the server's commands: for each command, its categories, and for a container
// command the categories of each subcommand.
type commandTable struct {
	cats map[string]map[string]bool            // command -> categories (without @)
	subs map[string]map[string]map[string]bool // container -> subcommand -> categories
	// sets caches evaluated rule lists: many users share the same rules.
	sets map[string]permSet
}

// loadCommandTable reads COMMAND INFO (every command, with its subcommands).
func (r *Redis) loadCommandTable(ctx context.Context) (*commandTable, error) {
	reply, err := r.client.Do(ctx, "command", "info").Slice()
	if err != nil {
		return nil, fmt.Errorf("COMMAND INFO: %w", classify(err))
	}
	t := &commandTable{cats: map[string]map[string]bool{}, subs: map[string]map[string]map[string]bool{}, sets: map[string]permSet{}}
	for _, e := range reply {
		name, cats, subs, ok := commandEntry(e)
		if !ok {
			continue
		}
		t.cats[name] = cats
		for _, s := range subs {
			sname, scats, _, ok := commandEntry(s)
			if !ok {
				continue
			}
			_, sub, found := strings.Cut(sname, "|")
			if !found {
				continue
			}
			if t.subs[name] == nil {
				t.subs[name] = map[string]map[string]bool{}
			}
			t.subs[name][sub] = scats
		}
	}
	if len(t.cats) == 0 {
		return nil, fmt.Errorf("COMMAND INFO listed no commands")
	}
	return t, nil
}

// commandEntry reads one COMMAND INFO entry: name, ACL categories (index 6) and subcommands
// (index 9, Redis 7).
func commandEntry(e any) (name string, cats map[string]bool, subs []any, ok bool) {
	fields, isList := e.([]any)
	if !isList || len(fields) < 7 {
		return "", nil, nil, false
	}
	name, ok = fields[0].(string)
	if !ok {
		return "", nil, nil, false
	}
	cats = map[string]bool{}
	for _, c := range asList(fields[6]) {
		if s, isStr := c.(string); isStr {
			cats[strings.TrimPrefix(strings.ToLower(s), "@")] = true
		}
	}
	if len(fields) > 9 {
		subs = asList(fields[9])
	}
	return strings.ToLower(name), cats, subs, true
}

// asList reads an array or a RESP3 set.
func asList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case map[any]bool:
		out := make([]any, 0, len(l))
		for k := range l {
			out = append(out, k)
		}
		return out
	}
	return nil
}

// units returns every leaf unit of the table, each with its categories.
func (t *commandTable) units(fn func(unit string, cats map[string]bool)) {
	for name, cats := range t.cats {
		if subs := t.subs[name]; len(subs) > 0 {
			for sub, scats := range subs {
				fn(name+"|"+sub, scats)
			}
			continue
		}
		fn(name, cats)
	}
}

// apply evaluates command rules in order, as ACL SETUSER does; other rules are left alone.
func (t *commandTable) apply(s *cmdSet, rules []string) {
	if s.allowed == nil {
		s.allowed, s.firstArgs = map[string]bool{}, map[string]map[string]bool{}
	}
	setAll := func(allow bool, match func(unit string, cats map[string]bool) bool) {
		t.units(func(u string, cats map[string]bool) {
			if match(u, cats) {
				s.allowed[u] = allow
				cmd, _, _ := strings.Cut(u, "|")
				delete(s.firstArgs, cmd)
			}
		})
	}
	for _, rule := range rules {
		rule = strings.ToLower(rule)
		switch {
		case rule == "allcommands" || rule == "+@all":
			setAll(true, func(string, map[string]bool) bool { return true })
		case rule == "nocommands" || rule == "-@all":
			setAll(false, func(string, map[string]bool) bool { return true })
		case strings.HasPrefix(rule, "+@") || strings.HasPrefix(rule, "-@"):
			cat := rule[2:]
			setAll(rule[0] == '+', func(_ string, cats map[string]bool) bool { return cats[cat] })
		case strings.HasPrefix(rule, "+") || strings.HasPrefix(rule, "-"):
			allow := rule[0] == '+'
			cmd, arg, hasArg := strings.Cut(rule[1:], "|")
			switch {
			case !hasArg:
				setAll(allow, func(u string, _ map[string]bool) bool { return u == cmd || strings.HasPrefix(u, cmd+"|") })
			case t.subs[cmd] != nil:
				setAll(allow, func(u string, _ map[string]bool) bool { return u == cmd+"|"+arg })
			case allow && !s.allowed[cmd]:
				if s.firstArgs[cmd] == nil {
					s.firstArgs[cmd] = map[string]bool{}
				}
				s.firstArgs[cmd][arg] = true
			}
		}
	}
}

// covers reports whether s allows everything want allows.
func (s cmdSet) covers(want cmdSet) bool {
	for u, ok := range want.allowed {
		if ok && !s.allowed[u] {
			return false
		}
	}
	for cmd, args := range want.firstArgs {
		if s.allowed[cmd] {
			continue
		}
		for a := range args {
			if !s.firstArgs[cmd][a] {
				return false
			}
		}
	}
	return true
}

// newPermSet evaluates rules applied after "reset": no commands, keys or channels to start with.
func (t *commandTable) newPermSet(rules []string) permSet {
	p := permSet{keys: map[string]string{}, channels: map[string]bool{}}
	t.apply(&p.cmds, rules)
	for _, rule := range rules {
		lower := strings.ToLower(rule)
		switch {
		case lower == "allkeys":
			p.keys["*"] = "RW"
		case lower == "resetkeys":
			p.keys = map[string]string{}
		case lower == "allchannels":
			p.channels["*"] = true
		case lower == "resetchannels":
			p.channels = map[string]bool{}
		case strings.HasPrefix(rule, "~"):
			p.keys[rule[1:]] = "RW"
		case strings.HasPrefix(rule, "%"):
			perms, pattern, ok := strings.Cut(rule[1:], "~")
			if ok {
				p.keys[pattern] = mergePerms(p.keys[pattern], strings.ToUpper(perms))
			}
		case strings.HasPrefix(rule, "&"):
			p.channels[rule[1:]] = true
		}
	}
	return p
}

// mergePerms joins two key permissions ("R", "W", "RW") into one.
func mergePerms(a, b string) string {
	out := ""
	if strings.Contains(a, "R") || strings.Contains(b, "R") {
		out += "R"
	}
	if strings.Contains(a, "W") || strings.Contains(b, "W") {
		out += "W"
	}
	return out
}

// covers reports whether p allows at least what want allows.
func (p permSet) covers(want permSet) bool {
	if !p.cmds.covers(want.cmds) {
		return false
	}
	for pattern, perms := range want.keys {
		for _, perm := range perms {
			found := false
			for q, qperms := range p.keys {
				if strings.ContainsRune(qperms, perm) && patternCovers(q, pattern) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	for pattern := range want.channels {
		found := false
		for q := range p.channels {
			if patternCovers(q, pattern) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// patternCovers reports whether every name glob p matches, q matches too, by the rule above:
// the same pattern, or a plain prefix and one final "*" that p starts with.
func patternCovers(q, p string) bool {
	if q == p {
		return true
	}
	prefix, ok := strings.CutSuffix(q, "*")
	return ok && !strings.ContainsAny(prefix, `*?[]\`) && strings.HasPrefix(p, prefix)
}

// aclUser is what ACL GETUSER says of a user's access.
type aclUser struct {
	on        bool
	root      []string   // the root selector's rules, as "~x", "&y", "+@read" ...
	selectors [][]string // each further selector's rules
}

// getUsers reads ACL GETUSER for each name in one round trip; a user deleted in between is left
// out of the answer.
func (r *Redis) getUsers(ctx context.Context, names []string) (map[string]aclUser, error) {
	cmds, err := r.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, n := range names {
			p.Do(ctx, "acl", "getuser", n)
		}
		return nil
	})
	if err != nil && err != goredis.Nil {
		return nil, fmt.Errorf("ACL GETUSER: %w", classify(err))
	}
	out := make(map[string]aclUser, len(names))
	for i, c := range cmds {
		v, err := c.(*goredis.Cmd).Result()
		if err == goredis.Nil {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ACL GETUSER %s: %w", names[i], classify(err))
		}
		if u, ok := parseUser(v); ok {
			out[names[i]] = u
		}
	}
	return out, nil
}

// parseUser reads an ACL GETUSER answer.
func parseUser(v any) (u aclUser, ok bool) {
	m := asMap(v)
	if m == nil {
		return u, false
	}
	for _, f := range asList(m["flags"]) {
		if f == "on" {
			u.on = true
		}
	}
	u.root = selectorRules(m)
	for _, s := range asList(m["selectors"]) {
		if sm := asMap(s); sm != nil {
			u.selectors = append(u.selectors, selectorRules(sm))
		}
	}
	return u, true
}

// selectorRules turns the commands, keys and channels fields of a user or selector into rules.
func selectorRules(m map[string]any) []string {
	rules := []string{}
	for _, field := range []string{"commands", "keys", "channels"} {
		if s, ok := m[field].(string); ok {
			rules = append(rules, strings.Fields(s)...)
		}
	}
	return rules
}

// asMap reads a RESP3 map or a RESP2 list of alternating names and values.
func asMap(v any) map[string]any {
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, val := range m {
			if ks, ok := k.(string); ok {
				out[ks] = val
			}
		}
	case map[string]any:
		return m
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			if ks, ok := m[i].(string); ok {
				out[ks] = m[i+1]
			}
		}
	default:
		return nil
	}
	return out
}

// holds reports whether u holds want (see above).
func (t *commandTable) holds(u aclUser, want permSet) bool {
	if !u.on {
		return false
	}
	if t.cachedPermSet(u.root).covers(want) {
		return true
	}
	for _, s := range u.selectors {
		if t.cachedPermSet(s).covers(want) {
			return true
		}
	}
	return false
}

// cachedPermSet is newPermSet, remembered by the rules' text (rules never hold a space).
func (t *commandTable) cachedPermSet(rules []string) permSet {
	key := strings.Join(rules, " ")
	p, ok := t.sets[key]
	if !ok {
		p = t.newPermSet(rules)
		t.sets[key] = p
	}
	return p
}
