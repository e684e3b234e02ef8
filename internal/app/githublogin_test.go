package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/adapters/github/githubtest"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/web"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/internal/app"
)

// The config's account source and the store's are one name: a resource with account_from:
// github-login reads the logins `/access github-login` stores.
func TestTheConfigsAccountSourceIsTheOneTheStoreAndTheCommandKnow(t *testing.T) {
	if config.AccountFromGitHubLogin != bot.GitHubLoginSource || bot.VerbGitHubLogin != bot.GitHubLoginSource {
		t.Errorf("config %q, store %q, command %q", config.AccountFromGitHubLogin, bot.GitHubLoginSource, bot.VerbGitHubLogin)
	}
}

// With a github_login: section, `/access github-login` in the web chat starts GitHub's device
// flow at the configured URL with the configured client ID and shows the person the code; the
// flow under way ends with the App.
func TestServeStartsTheGitHubDeviceFlowWithTheConfiguredApp(t *testing.T) {
	const clientID = "Iv23liAbCdEf12345678"
	flow := githubtest.NewDeviceFlow(t, clientID)
	s := serveWeb(t, "  token: ${WEB_TOKEN}\ngithub_login:\n  client_id: "+clientID+"\n  oauth_url: "+flow.URL+"\n  api_url: "+flow.URL+"\n",
		map[string]string{"WEB_TOKEN": webToken}, app.Options{})
	body, _ := json.Marshal(map[string]string{"as": "alice", "text": "github-login"})
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+web.PathCommand, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+webToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans web.Answer
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || ans.Message == nil || ans.Message.View == nil {
		t.Fatalf("answer %s %+v, %v", resp.Status, ans, err)
	}
	if v := ans.Message.View; !strings.Contains(v.Text, githubtest.UserCode) || !strings.Contains(v.Text, flow.URL+"/login/device") {
		t.Errorf("the answer %+v does not show the code and where to enter it", v)
	}
	calls := flow.Calls()
	if len(calls) == 0 || calls[0].Op != "POST /login/device/code" || calls[0].Form.Get("client_id") != clientID {
		t.Errorf("calls to GitHub %+v, want the device code asked for with the client ID", calls)
	}
	if log := s.stop(); strings.Contains(log, flow.Issued()[0]) {
		t.Error("the log shows the device code")
	}
}
