package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/config"
)

func TestTheWebChatIsOffByDefault(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Web.Enabled || c.Web.AllowRemote {
		t.Errorf("web = %+v", c.Web)
	}
	// A section without enabled: true is off too, whatever it lists.
	c = mustParse(t, valid+"web:\n  people: [{id: alice, email: alice@example.com}]\n", nil)
	if c.Web.Enabled {
		t.Error("the web chat is on without enabled: true")
	}
}

func TestTheWebChatIsReadWithItsPeople(t *testing.T) {
	c := mustParse(t, valid+`web:
  enabled: true
  people:
    - {id: alice, name: "Alice L.", email: "Alice@Example.com", role: requester}
    - {id: bob, email: bob@example.com}
`, nil)
	want := []config.WebPerson{
		{ID: "alice", Name: "Alice L.", Email: "alice@example.com", Role: "requester"},
		{ID: "bob", Name: "bob", Email: "bob@example.com"},
	}
	got := c.WebPeople()
	if !c.Web.Enabled || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("people = %+v, want %+v", got, want)
	}
}

func TestWithoutPeopleTheWebChatOffersEveryoneTheConfigNames(t *testing.T) {
	c := mustParse(t, `admins:
  users: [dana@example.com, U0123]
groups:
  sre: [alice@example.com, bob@example.com]
  leads: [bob@example.com, "bob@other.example"]
resources:
  - name: prod-db
    adapter: {type: fake, url: "http://127.0.0.1:9"}
    policy:
      approvers: [leads]
web:
  enabled: true
`, nil)
	var got []string
	for _, p := range c.WebPeople() {
		got = append(got, p.ID+"|"+p.Name+"|"+p.Email+"|"+p.Role)
	}
	want := []string{
		"alice|Alice|alice@example.com|sre",
		"bob|Bob|bob@example.com|leads, sre",
		"bob2|Bob|bob@other.example|leads",
		"dana|Dana|dana@example.com|admin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("people:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTheWebChatRefusesANonLoopbackListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "10.1.2.3:8080", "accessbot.internal:8080"} {
		err := parseErr(t, "server:\n  listen: \""+listen+"\"\n"+valid+"web:\n  enabled: true\n", nil)
		if !strings.Contains(err, "web.enabled") || !strings.Contains(err, "server.listen") ||
			!strings.Contains(err, "web.allow_remote") || !strings.Contains(err, listen) {
			t.Errorf("listen %s: %s", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:8080", "localhost:0", "[::1]:8080", "127.0.0.2:9"} {
		mustParse(t, "server:\n  listen: \""+listen+"\"\n"+valid+"web:\n  enabled: true\n", nil)
	}
	// allow_remote says it on purpose; a disabled web chat does not care.
	mustParse(t, "server:\n  listen: \":8080\"\n"+valid+"web:\n  enabled: true\n  allow_remote: true\n", nil)
	mustParse(t, "server:\n  listen: \":8080\"\n"+valid+"web:\n  enabled: false\n", nil)
}

func TestWebPeopleAreCheckedStrictly(t *testing.T) {
	err := parseErr(t, valid+`web:
  enabled: true
  people:
    - {id: Alice, email: alice@example.com}
    - {id: bob, email: "not an email"}
    - {id: carol}
    - {id: dave, email: dave@example.com, colour: red}
    - {id: dave, email: dave@example.com}
`, nil)
	for _, want := range []string{
		"web.people[0].id", "web.people[1].email", "web.people[2].email", `unknown key "colour"`,
		"web.people[4].id", "web.people[4].email",
	} {
		if !strings.Contains(err, want) {
			t.Errorf("no %q in:\n%s", want, err)
		}
	}
	if err := parseErr(t, "resources:\n  - name: x\n    adapter: {type: fake, url: \"http://127.0.0.1:9\"}\n    policy: {approvers: [g]}\ngroups:\n  g: [U0123]\nweb:\n  enabled: true\n", nil); !strings.Contains(err, "web.people") {
		t.Errorf("nobody to act as: %s", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "LOCALHOST:1": true, "[::1]:80": true,
		":8080": false, "0.0.0.0:80": false, "[::]:80": false, "192.168.1.2:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := config.IsLoopback(listen); got != want {
			t.Errorf("IsLoopback(%q) = %v", listen, got)
		}
	}
}

// parseErr parses src, which must fail, and returns every problem, one a line.
func parseErr(t *testing.T, src string, env map[string]string) string {
	t.Helper()
	_, err := config.Parse(testFile, []byte(src), envOf(env))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	return strings.Join(problemsOf(t, err), "\n")
}

func TestTheWebChatsTokenIsRandomUnlessConfigured(t *testing.T) {
	c := mustParse(t, valid+"web:\n  enabled: true\n", nil)
	if c.Web.Token != "" {
		t.Errorf("token = %q without web.token, want empty (a random one at every start)", c.Web.Token.Reveal())
	}
	const secret = "0123456789abcdef0123456789abcdef-from-env"
	c = mustParse(t, valid+"web:\n  enabled: true\n  token: ${WEB_TOKEN}\n", map[string]string{"WEB_TOKEN": secret})
	if c.Web.Token.Reveal() != secret {
		t.Errorf("token = %q, want the environment's", c.Web.Token.Reveal())
	}
	if !slices.Contains(c.Secrets(), secret) {
		t.Error("the token from the environment is not among the secrets the log redacts")
	}
}

func TestAWeakWebTokenIsRefusedWithoutShowingIt(t *testing.T) {
	for _, tc := range []struct{ name, token, want string }{
		{"a short token", "hunter2-short", "web.token: is too short"},
		{"a token with a space", "hunter2 0123456789abcdef0123456789abcdef", "web.token: may hold only letters"},
		{"a token that a URL would escape", "hunter2+0123456789abcdef/0123456789abcdef=", "web.token: may hold only letters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(valid+"web:\n  enabled: true\n  token: ${T}\n"), envOf(map[string]string{"T": tc.token}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}
