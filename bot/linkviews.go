package bot

import (
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// Action IDs of the prompt that asks a person whether a Discord account is theirs. They are a
// contract with stored messages: never rename one.
const (
	// ActionLinkConfirm makes the link. Value: "<Discord user ID>:<token>", the token tying the
	// click to the pending link the prompt showed (a link asked for again has another).
	ActionLinkConfirm = "link_confirm"
	// ActionLinkCancel refuses it and removes the pending link. Value: as ActionLinkConfirm.
	ActionLinkCancel = "link_cancel"
)

// platformTitle is how a platform is named in a sentence.
func platformTitle(p string) string {
	switch p {
	case "discord":
		return "Discord"
	case "slack":
		return "Slack"
	case "web":
		return "the web chat"
	case "":
		return "another chat"
	}
	return p
}

// LinkPromptView asks the person a pending link names whether the account is theirs, showing
// what would be linked, before anything is: the code alone links nothing, so someone who was
// talked into typing another's code sees whose account it is and can refuse. value is the
// buttons' Value.
func LinkPromptView(l Link, platform, value string, now time.Time) View {
	where := platformTitle(platform)
	name := l.Name
	if name == "" {
		name = l.UserID
	}
	return View{
		Title: "Is this " + where + " account yours?",
		Text: "Someone asked on " + where + " to link the account below to you, " + l.Person + ". Once linked, it requests and approves access as you.\n\n" +
			"Confirm only if you typed `/access link " + l.Person + "` on " + where + " yourself and this is your account. " +
			"If someone else gave you the code, press Cancel and tell your security team.",
		Fields: []Field{
			{Label: where + " user", Value: name},
			{Label: where + " user ID", Value: l.UserID},
			{Label: "Email", Value: l.Person},
			{Label: "Asked", Value: At(l.RequestedAt, now)},
		},
		Buttons: []Button{
			{ActionID: ActionLinkConfirm, Label: "Yes, it's my account", Value: value, Style: StylePrimary},
			{ActionID: ActionLinkCancel, Label: "No, cancel", Value: value, Style: StyleDanger},
		},
		Tone: ToneWarning,
	}
}

// LinkedView answers the person who confirmed a link.
func LinkedView(l Link, platform string) View {
	where := platformTitle(platform)
	return View{
		Title: where + " account linked",
		Text:  where + " user " + l.Name + " (" + l.UserID + ") is now " + l.Person + " in accessbot.",
		Tone:  ToneSuccess,
	}
}

// LinkRefusedView answers the person who refused a link.
func LinkRefusedView(l Link, platform string) View {
	where := platformTitle(platform)
	return View{
		Title: "Nothing was linked",
		Text: "The request to link " + where + " user " + l.Name + " (" + l.UserID + ") to you is removed.\n\n" +
			"If someone asked you to type that code, tell your security team: they tried to act as you.",
		Tone: ToneNeutral,
	}
}

// LinkNoticeView is the DM that tells a person an account was linked to them, or unlinked, on
// every platform where accessbot reaches them: a link made behind their back is seen at once.
// ok is false for other events.
func LinkNoticeView(e audit.Event) (View, bool) {
	if v, ok := GitHubNoticeView(e); ok {
		return v, true
	}
	footer := ""
	if e.Seq > 0 {
		footer = fmt.Sprintf("Audit event %d", e.Seq)
	}
	switch e.Type {
	case audit.IdentityLinked:
		p, err := audit.Decode[audit.IdentityLinkedData](e)
		if err != nil {
			return View{}, false
		}
		where := platformTitle(p.Platform)
		account := p.PlatformID
		if p.Name != "" {
			account = p.Name + " (" + p.PlatformID + ")"
		}
		return View{
			Title: "A " + where + " account was linked to you",
			Text: where + " user " + account + " now acts as " + p.Person + " in accessbot: it can request and approve access as you.\n\n" +
				"If you did not confirm this yourself, tell your security team now; an admin removes the link with `/access link remove " + p.PlatformID + "`.",
			Fields: []Field{
				{Label: where + " user ID", Value: p.PlatformID},
				{Label: "Confirmed on", Value: platformTitle(p.ConfirmedOn)},
			},
			Footer: footer,
			Tone:   ToneWarning,
		}, true
	case audit.IdentityUnlinked:
		p, err := audit.Decode[audit.IdentityUnlinkedData](e)
		if err != nil {
			return View{}, false
		}
		where := platformTitle(p.Platform)
		by := e.Actor
		if by == p.Person {
			by = "you"
		}
		return View{
			Title:  "A " + where + " link was removed",
			Text:   where + " user " + p.PlatformID + " is no longer linked to " + p.Person + " in accessbot (removed by " + by + ").",
			Footer: footer,
			Tone:   ToneNeutral,
		}, true
	}
	return View{}, false
}
