package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/config"
)

var teamsEnv = map[string]string{"TEAMS_APP_PASSWORD": "very-secret-teams-client-secret"}

const teamsBase = "teams:\n  app_id: 00000000-0000-0000-0000-0000000000b0\n  tenant_id: 00000000-0000-0000-0000-00000000a11a\n" +
	"  approver_channel: \"19:abc@thread.tacv2\"\n"

func TestTeamsIsOffWhenTheSectionIsAbsent(t *testing.T) {
	c := mustParse(t, valid, nil)
	if c.Teams.IsEnabled() {
		t.Error("Teams is on without a teams: section")
	}
}

func TestATeamsSectionIsReadWithItsDefaults(t *testing.T) {
	c := mustParse(t, valid+teamsBase+"  app_password: ${TEAMS_APP_PASSWORD}\nidentity:\n  teams:\n    allow_guests: true\n", teamsEnv)
	tm := c.Teams
	if !tm.IsEnabled() || tm.AppPassword.Reveal() != teamsEnv["TEAMS_APP_PASSWORD"] {
		t.Fatalf("teams: %+v", tm)
	}
	if len(tm.Tenants) != 1 || tm.Tenants[0] != tm.TenantID {
		t.Errorf("tenants = %v, want [tenant_id]", tm.Tenants)
	}
	if tm.TokenURL != "https://login.microsoftonline.com/00000000-0000-0000-0000-00000000a11a/oauth2/v2.0/token" ||
		tm.OpenIDMetadataURL != config.DefaultTeamsOpenIDMetadataURL || tm.ServiceURL != config.DefaultTeamsServiceURL ||
		tm.MemberCacheTTL != 10*time.Minute || tm.AlertChannel() != tm.ApproverChannel {
		t.Errorf("defaults: %+v", tm)
	}
	if !c.Identity.Teams.AllowGuests {
		t.Error("identity.teams.allow_guests was not read")
	}
	if strings.Contains(tm.AppPassword.String(), "secret") {
		t.Error("the app password prints")
	}
}

func TestTeamsMistakesAreReportedAtTheirKey(t *testing.T) {
	pw := "  app_password: ${TEAMS_APP_PASSWORD}\n"
	tests := []struct{ name, src, want string }{
		{"a missing app password", teamsBase, "teams.app_password: required"},
		{"an app ID that is a name", strings.Replace(teamsBase, "00000000-0000-0000-0000-0000000000b0", "accessbot", 1) + pw, "teams.app_id: required"},
		{"a tenant that is no GUID", teamsBase + pw + "  tenants: [contoso]\n", `teams.tenants[0]: "contoso" is not an Entra ID tenant ID`},
		{"a channel that is a name", strings.Replace(teamsBase, `"19:abc@thread.tacv2"`, "approvers", 1) + pw, `teams.approver_channel: "approvers" is not a Teams conversation ID`},
		{"no approvers' channel", strings.Replace(teamsBase, "  approver_channel: \"19:abc@thread.tacv2\"\n", "", 1) + pw, "teams.approver_channel: required"},
		{"a token URL that is no URL", teamsBase + pw + "  token_url: login\n", "teams.token_url: must be an absolute"},
		{"an Entra ID group named by its name", teamsBase + pw + "admins:\n  groups: [\"entra-group:on-call\"]\n", "is named by its object ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(testFile, []byte(valid+tt.src), envOf(teamsEnv))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			got := problemsOf(t, err)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("problems = %q\nwant one with %q", got, tt.want)
			}
			if strings.Contains(err.Error(), teamsEnv["TEAMS_APP_PASSWORD"]) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestTheExampleTeamsSectionIsValidWhenUncommented(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "# teams:":
			in = true
			out = append(out, "teams:")
		case in && strings.HasPrefix(line, "#   "):
			out = append(out, strings.TrimPrefix(line, "# "))
		case in:
			in = false
			out = append(out, line)
		default:
			out = append(out, line)
		}
	}
	src := strings.Join(out, "\n")
	if !strings.Contains(src, "\nteams:\n") {
		t.Fatal("config.example.yaml has no commented teams: section")
	}
	c, err := config.Parse(exampleFile, []byte(src), envOf(teamsEnv))
	if err != nil {
		t.Fatalf("the uncommented teams section does not validate:\n%v", err)
	}
	if !c.Teams.IsEnabled() || c.Teams.Channels["prod-db"] == "" {
		t.Errorf("unexpected teams section: %+v", c.Teams)
	}
}

func TestAnEntraGroupNeedsTeams(t *testing.T) {
	src := valid + "admins:\n  groups: [\"entra-group:0c0c0c0c-0000-0000-0000-00000000000c\"]\n"
	_, err := config.Parse(testFile, []byte(src), envOf(teamsEnv))
	if err == nil || !strings.Contains(err.Error(), "configure teams:") {
		t.Errorf("an Entra ID group without teams: %v", err)
	}
	c := mustParse(t, valid+teamsBase+"  app_password: ${TEAMS_APP_PASSWORD}\nadmins:\n  groups: [\"entra-group:0c0c0c0c-0000-0000-0000-00000000000c\"]\n", teamsEnv)
	if c.Teams.GraphURL != config.DefaultTeamsGraphURL {
		t.Errorf("graph_url = %q", c.Teams.GraphURL)
	}
}
