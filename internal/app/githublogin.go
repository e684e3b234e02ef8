package app

import (
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/internal/ghdevice"
)

// githubLogin enables `/access github-login` when the config has a github_login: section: the
// device flow against GitHub (or the URLs the config names), links kept in the database.
func (w *wiring) githubLogin() *bot.GitHubLoginOptions {
	g := w.Config.GitHubLogin
	if !g.Enabled() {
		return nil
	}
	return &bot.GitHubLoginOptions{
		Verifier: &ghdevice.Client{ClientID: g.ClientID, OAuthURL: g.OAuthURL, APIURL: g.APIURL, Clock: w.clock},
		Links:    w.DB,
	}
}
