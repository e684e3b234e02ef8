package config

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/accessbot/accessbot/internal/ident"
)

// Web is the `web:` section: the local web chat under /chat/, a chat workspace in the browser
// for trying accessbot out and for end-to-end tests. It has no login per person: whoever opens
// its URL, which carries a per-run token, picks who they are. It is off unless `enabled: true`,
// and it refuses a listen address other than loopback unless `allow_remote: true`.
type Web struct {
	// Enabled turns the web chat on. Default false.
	Enabled bool `yaml:"enabled"`
	// AllowRemote lets the web chat run when server.listen is not a loopback address. Anyone
	// who can reach the port and has the URL (with its token) can then act as anyone in People.
	AllowRemote bool `yaml:"allow_remote"`
	// People are who the person switcher offers. Empty means everyone the config names by
	// email (admins.users and group members).
	People []WebPerson `yaml:"people"`
	// Token fixes the secret the URL to open carries, for scripts ("${WEB_TOKEN}"). Empty, the
	// default, means a fresh random token at every start.
	Token Secret `yaml:"token"`
}

// MinWebTokenLength is the shortest web.token accepted: a token must be as hard to guess as
// a generated one (32 random bytes).
const MinWebTokenLength = 32

// WebPerson is one person of the web chat.
type WebPerson struct {
	// ID is the person's user ID in the web chat (lowercase letters, digits, . _ -).
	ID string `yaml:"id"`
	// Name is how the person is shown; default the ID.
	Name string `yaml:"name"`
	// Email is the person's accessbot identity, matched against groups and admins.
	Email string `yaml:"email"`
	// Role is a label shown next to the name in the switcher ("requester", "approver").
	Role string `yaml:"role"`
}

var (
	webPersonID = ident.New(`^[a-z0-9][a-z0-9._-]{0,31}$`, `^[a-z0-9][a-z0-9._-]*$`, 1, 32)
	webToken    = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)

func (v *validator) web() {
	w := &v.c.Web
	ids, emails := map[string]bool{}, map[string]bool{}
	for i := range w.People {
		p := &w.People[i]
		path := joinIndex("web.people", i)
		p.ID = strings.TrimSpace(p.ID)
		p.Email = strings.ToLower(strings.TrimSpace(p.Email))
		p.Name = strings.TrimSpace(p.Name)
		p.Role = strings.TrimSpace(p.Role)
		switch {
		case p.ID == "":
			v.add(path+".id", "required: the person's user ID in the web chat, e.g. alice")
		case !webPersonID.MatchString(p.ID):
			v.add(path+".id", "%s is not a user ID: use 1-32 lowercase letters, digits, . _ or -, starting with a letter or digit", v.quote(path+".id", p.ID))
		case ids[p.ID]:
			v.add(path+".id", "%q is listed twice", p.ID)
		}
		ids[p.ID] = true
		switch {
		case p.Email == "":
			v.add(path+".email", "required: the person's email, which groups and admins name")
		case !strings.Contains(p.Email, "@") || strings.ContainsAny(p.Email, " \t<>\"") || len(p.Email) > 254:
			v.add(path+".email", "%s is not an email address", v.quote(path+".email", p.Email))
		case emails[p.Email]:
			v.add(path+".email", "%q is listed twice", p.Email)
		}
		emails[p.Email] = true
		if len(p.Name) > 80 {
			v.add(path+".name", "is longer than 80 characters")
		}
		if len(p.Role) > 40 {
			v.add(path+".role", "is longer than 40 characters")
		}
		if p.Name == "" {
			p.Name = p.ID
		}
	}
	// Messages name the key, never the value: the token is a credential.
	if tok := string(w.Token); tok != "" {
		switch {
		case len(tok) < MinWebTokenLength:
			v.add("web.token", "is too short: use at least %d characters, e.g. from `openssl rand -hex 32`, or leave it out for a random token at every start", MinWebTokenLength)
		case !webToken.MatchString(tok):
			// Characters a URL carries as they are: the token is the same in the config, the
			// URL and the log's redaction.
			v.add("web.token", "may hold only letters, digits and - _ . ~ (it goes into a URL as it is): use e.g. `openssl rand -hex 32`")
		}
	}
	if !w.Enabled {
		return
	}
	if len(w.People) == 0 && len(v.c.WebPeople()) == 0 {
		v.add("web.people", "required: nobody to act as (no admins.users or group members are emails); list people with id, name, email and role")
	}
	if w.AllowRemote {
		return
	}
	if listen := v.c.Server.Listen; !v.d.bad["server.listen"] && !IsLoopback(listen) {
		v.add("web.enabled", "the web chat has no login per person, and server.listen %s is not a loopback address: listen on 127.0.0.1 (or localhost), or set web.allow_remote: true to let anyone who reaches the port with the URL act as anyone", v.quote("server.listen", listen))
	}
}

// IsLoopback reports whether a host:port listen address is reachable only from this machine:
// localhost, 127.0.0.0/8 or ::1. An empty host (":8080", every interface) is not.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WebPeople returns the web chat's people: web.people, or when it is empty everyone the config
// names by email (admins.users and group members), with their groups as the role.
func (c *Config) WebPeople() []WebPerson {
	if len(c.Web.People) > 0 {
		return append([]WebPerson(nil), c.Web.People...)
	}
	roles := map[string][]string{}
	var order []string
	note := func(entry, role string) {
		email := strings.ToLower(strings.TrimSpace(entry))
		if !strings.Contains(email, "@") {
			return
		}
		if _, seen := roles[email]; !seen {
			order = append(order, email)
			roles[email] = nil
		}
		if role != "" {
			roles[email] = append(roles[email], role)
		}
	}
	for _, u := range c.Admins.Users {
		note(u, "admin")
	}
	groups := make([]string, 0, len(c.Groups))
	for g := range c.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, m := range c.Groups[g] {
			note(m, g)
		}
	}
	sort.Strings(order)
	taken := map[string]bool{}
	out := make([]WebPerson, 0, len(order))
	for _, email := range order {
		base := webIDFrom(email)
		id := base
		for n := 2; taken[id]; n++ {
			id = fmt.Sprintf("%s%d", base, n)
		}
		taken[id] = true
		local, _, _ := strings.Cut(email, "@")
		name := local
		if name != "" {
			name = strings.ToUpper(name[:1]) + name[1:]
		}
		out = append(out, WebPerson{ID: id, Name: name, Email: email, Role: strings.Join(roles[email], ", ")})
	}
	return out
}

// webIDFrom makes a web chat user ID from an email's local part.
func webIDFrom(email string) string {
	local, _, _ := strings.Cut(email, "@")
	var b strings.Builder
	for _, r := range strings.ToLower(local) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	id := strings.TrimLeft(b.String(), "._-")
	if len(id) > 28 {
		id = id[:28]
	}
	if id == "" {
		id = "person"
	}
	return id
}
