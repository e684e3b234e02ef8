package app

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/web"
)

// platformStatus says whether one chat platform is on and how it is reached: what the start log
// and the answer at "/" tell an operator, so that a wrong or missing config section shows at
// once instead of as a silent 404.
type platformStatus struct {
	// Name is the platform's name as the config section spells it.
	Name string
	// On says the platform is enabled.
	On bool
	// Where is how the platform reaches accessbot when on (its paths, or the outgoing
	// connection it opens); how to turn it on when off.
	Where string
}

// platforms describes every chat platform, in a fixed order, with its paths under origin
// (empty: the paths alone).
func (a *App) platforms(origin string) []platformStatus {
	c := a.Config
	var slackWhere string
	switch {
	case !c.Slack.IsEnabled():
		slackWhere = "add a slack: section to the config to turn it on"
	case c.Slack.SocketMode:
		slackWhere = "Socket Mode (an outgoing websocket to Slack)"
	case c.Slack.SigningSecret == "":
		slackWhere = "no HTTP endpoints: slack.signing_secret is not set"
	default:
		slackWhere = "POST " + origin + slack.PathCommands + " and " + origin + slack.PathInteractions
	}
	var discordWhere string
	switch {
	case !c.Discord.IsEnabled():
		discordWhere = "add a discord: section to the config to turn it on"
	case c.Discord.Gateway:
		discordWhere = "the gateway (an outgoing websocket to Discord)"
	case c.Discord.PublicKey == "":
		discordWhere = "no HTTP endpoint: discord.public_key is not set"
	default:
		discordWhere = "POST " + origin + discord.PathInteractions
	}
	webWhere := "set web.enabled: true in the config to turn it on"
	if a.Web != nil {
		webWhere = "GET " + origin + web.Prefix
	}
	return []platformStatus{
		{Name: slack.PlatformName, On: c.Slack.IsEnabled(), Where: slackWhere},
		{Name: discord.PlatformName, On: c.Discord.IsEnabled(), Where: discordWhere},
		{Name: web.PlatformName, On: a.Web != nil, Where: webWhere},
	}
}

// logPlatforms logs one line per chat platform at start: on or off, and where it listens.
func (a *App) logPlatforms(addr net.Addr) {
	for _, p := range a.platforms(webOrigin(a.Config, addr)) {
		state := "off"
		if p.On {
			state = "on"
		}
		a.Log.Info().Str("platform", p.Name).Bool("enabled", p.On).Str("where", p.Where).
			Msgf("chat platform %s: %s", p.Name, state)
	}
}

// home answers "/" and, when the web chat is off, /chat and /chat/: a browser pointed at the
// server finds the web chat, or a line that says what this server answers and what to turn on.
func (w *wiring) home() error {
	if w.Web != nil {
		// The query goes along: it may hold the token of the URL to open.
		w.mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
			to := web.Prefix
			if r.URL.RawQuery != "" {
				to += "?" + r.URL.RawQuery
			}
			http.Redirect(rw, r, to, http.StatusFound)
		})
		return nil
	}
	w.mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) {
		plainText(rw, http.StatusOK, w.homeText())
	})
	off := func(rw http.ResponseWriter, r *http.Request) {
		plainText(rw, http.StatusNotFound, "the web chat is off: set web.enabled: true in the config and restart accessbot to use it at "+web.Prefix+"\n")
	}
	w.mux.HandleFunc("/chat", off)
	w.mux.HandleFunc(web.Prefix, off)
	return nil
}

// homeText is the answer at "/" when the web chat is off: the operations endpoints and each
// chat platform's state.
func (a *App) homeText() string {
	var b strings.Builder
	// Paths only, no version or address: whoever reaches the port reads this.
	b.WriteString("accessbot: health at /healthz, readiness at /readyz, Prometheus metrics at /metrics.\n")
	for _, p := range a.platforms("") {
		state := "off"
		if p.On {
			state = "on"
		}
		fmt.Fprintf(&b, "%s: %s, %s\n", p.Name, state, p.Where)
	}
	return b.String()
}

// plainText writes a short text answer.
func plainText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}
