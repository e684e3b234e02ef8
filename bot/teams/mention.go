package teams

import (
	"regexp"
	"strings"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// A message that calls on people (bot.View.Notify: the people on call for a request) mentions
// them in the card, as Teams documents for bots' Adaptive Cards: "<at>name</at>" in a TextBlock
// and a mention entity under msteams.entities whose ID may be the person's Microsoft Entra
// object ID or their user principal name. A person whose accessbot ID is their email is
// mentioned by it as the UPN; "teams:<object ID>" by the object ID; anyone else (a person known
// only on another platform) is named, not mentioned. Nothing else in a card pings anyone: the
// text accessbot renders escapes what people typed.

// Mention is one mention entity of a card.
type Mention struct {
	Type      string    `json:"type"`
	Text      string    `json:"text"`
	Mentioned Mentioned `json:"mentioned"`
}

// Mentioned is who a mention calls on.
type Mentioned struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// upnRE and objectIDRE are what may stand inside a mention: an email-shaped UPN and an Entra
// object ID (a GUID), so nothing a person could shape otherwise reaches the mention markup.
var (
	// upnRE is ^[a-z0-9._%+'-]{1,64}@[a-z0-9.-]{1,253}$ without its counts, which isUPN
	// checks (internal/ident says why).
	upnRE      = regexp.MustCompile(`^[a-z0-9._%+'-]+@[a-z0-9.-]+$`)
	objectIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// angles keeps a named person from writing mention markup of their own.
var angles = strings.NewReplacer("<", "‹", ">", "›")

// mentionID is the ID Teams mentions person p by, or "" when p cannot be mentioned on Teams.
func mentionID(p string) string {
	p = grants.CanonicalPerson(p)
	if isUPN(p) {
		return p
	}
	if id, ok := strings.CutPrefix(p, "teams:"); ok && objectIDRE.MatchString(strings.ToLower(id)) {
		return strings.ToLower(id)
	}
	return ""
}

// addMentions puts "Calling on …" with v's people into c, mentioning those Teams can ping.
func addMentions(c *Card, v bot.View) {
	if len(v.Notify) == 0 {
		return
	}
	var names []string
	for _, p := range v.Notify {
		id := mentionID(p)
		if id == "" {
			names = append(names, escape(angles.Replace(grants.CanonicalPerson(p))))
			continue
		}
		text := "<at>" + id + "</at>"
		names = append(names, text)
		c.MSTeams.Entities = append(c.MSTeams.Entities, Mention{Type: "mention", Text: text, Mentioned: Mentioned{ID: id, Name: id}})
	}
	c.Body = append(c.Body, Element{Type: "TextBlock", Text: "Calling on " + strings.Join(names, " "), Wrap: true})
}

// isUPN reports whether p is an email-shaped UPN: 1 to 64 characters before the one '@' (neither
// side's class holds one) and 1 to 253 after it.
func isUPN(p string) bool {
	at := strings.IndexByte(p, '@')
	return upnRE.MatchString(p) && at <= 64 && len(p)-at-1 <= 253
}
