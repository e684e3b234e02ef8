package bot

import (
	"fmt"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/ghdevice"
)

// What `/access github-login` answers and the DMs of its outcome.

const githubLoginCmd = "/access github-login"

// GitHubLoginCodeView is the private answer to `/access github-login`: where to go and the code
// to type there. Only the person sees it; the code alone links nothing, since GitHub asks
// whoever types it to sign in and approve as themselves.
func GitHubLoginCodeView(c ghdevice.Code, claimed string, current GitHubLink, now time.Time) View {
	text := fmt.Sprintf("Open %s, sign in to GitHub as yourself and enter the code %s. GitHub then asks you to authorize accessbot: approve, and accessbot reads your GitHub login from GitHub (it keeps no GitHub token). You get a message here when it is done.",
		c.VerificationURI, code(c.UserCode))
	if claimed != "" {
		text += fmt.Sprintf("\n\nYou named %s: if GitHub says you are someone else, nothing is linked.", code(claimed))
	}
	if current.Login != "" {
		text += fmt.Sprintf("\n\nYour GitHub login now is %s; the one you verify replaces it.", code(current.Login))
	}
	return View{
		Title: "Verify your GitHub login",
		Text:  text,
		Fields: []Field{
			{Label: "Code", Value: code(c.UserCode)},
			{Label: "At", Value: c.VerificationURI},
			{Label: "Expires", Value: Relative(c.ExpiresAt, now)},
		},
		Footer: "Never type this code for someone else: whoever enters it links their GitHub account to you.",
		Tone:   TonePending,
	}
}

// GitHubLoginOffView answers `/access github-login` when accessbot has no github_login: setup.
func GitHubLoginOffView() View {
	return View{Title: "GitHub login is not set up",
		Text: "This accessbot cannot verify GitHub logins (an admin sets up the github_login: section). Ask an admin to map your GitHub login in the resource's accounts instead.",
		Tone: ToneWarning}
}

// GitHubLoginUnderWayView answers a second `/access github-login` while the first is waiting.
func GitHubLoginUnderWayView() View {
	return View{Title: "Already waiting for GitHub",
		Text: "A verification of your GitHub login is already under way: enter the code you were given at GitHub, or wait until it expires and ask again.",
		Tone: TonePending}
}

// GitHubLoginFailedView answers `/access github-login` when GitHub could not be asked.
func GitHubLoginFailedView() View {
	return View{Title: "GitHub did not answer",
		Text: "accessbot could not start the verification with GitHub. Try again in a few minutes; if it keeps failing, tell an admin.",
		Tone: ToneDanger}
}

// GitHubNotLinkedView answers `/access github-login remove` from someone without a link.
func GitHubNotLinkedView() View {
	return View{Title: "No GitHub login linked",
		Text: "You have no verified GitHub login. " + code(githubLoginCmd) + " links one.",
		Tone: ToneNeutral}
}

// GitHubUnlinkedView answers `/access github-login remove`.
func GitHubUnlinkedView(l GitHubLink) View {
	return View{Title: "GitHub login removed",
		Text: fmt.Sprintf("%s is no longer your GitHub login in accessbot. Access already granted to it ends at its expiry as usual; resources that grant to your GitHub login refuse your requests until you link one again with %s.",
			code(l.Login), code(githubLoginCmd)),
		Tone: ToneSuccess}
}

// GitHubNoticeView is the DM that tells a person how their GitHub verification ended, or that
// their link was removed; ok is false for other events.
func GitHubNoticeView(e audit.Event) (View, bool) {
	footer := ""
	if e.Seq > 0 {
		footer = fmt.Sprintf("Audit event %d", e.Seq)
	}
	switch e.Type {
	case audit.GitHubLinked:
		p, err := audit.Decode[audit.GitHubLinkedData](e)
		if err != nil {
			return View{}, false
		}
		text := fmt.Sprintf("GitHub confirmed that you are %s. Resources that grant to your GitHub login use it from now on.", code(p.Login))
		if p.PreviousLogin != "" && p.PreviousLogin != p.Login {
			text += fmt.Sprintf(" It replaces %s.", code(p.PreviousLogin))
		}
		text += "\n\nIf you did not do this yourself, tell your security team now and remove it with " + code(githubLoginCmd+" remove") + "."
		return View{Title: "GitHub login verified", Text: text, Tone: ToneSuccess, Footer: footer,
			Fields: []Field{{Label: "GitHub login", Value: p.Login}, {Label: "GitHub user ID", Value: fmt.Sprint(p.ID)}}}, true
	case audit.GitHubLinkRefused:
		p, err := audit.Decode[audit.GitHubLinkRefusedData](e)
		if err != nil {
			return View{}, false
		}
		v := View{Title: "GitHub login not linked", Tone: ToneDanger, Footer: footer}
		switch p.Refused {
		case audit.GitHubRefusedMismatch:
			v.Text = fmt.Sprintf("GitHub says you are %s, not %s, so nothing was linked. Sign in to GitHub as %s and ask again with %s.",
				code(p.Login), code(p.Claimed), code(p.Claimed), code(githubLoginCmd+" "+p.Claimed))
		case audit.GitHubRefusedTaken:
			v.Text = fmt.Sprintf("The GitHub account %s is linked to another person in accessbot, so nothing was linked. Your security team was told; if the account is yours, ask them.", code(p.Login))
		case audit.GitHubRefusedDenied:
			v.Text = "You declined the authorization at GitHub, so nothing was linked. " + code(githubLoginCmd) + " starts again."
			v.Tone = ToneNeutral
		case audit.GitHubRefusedExpired:
			v.Text = "The code expired before it was entered at GitHub, so nothing was linked. " + code(githubLoginCmd) + " gives you a new one."
			v.Tone = ToneNeutral
		default:
			v.Text = "accessbot could not finish the verification with GitHub, so nothing was linked. Try again in a few minutes with " + code(githubLoginCmd) + "."
		}
		return v, true
	case audit.GitHubUnlinked:
		p, err := audit.Decode[audit.GitHubUnlinkedData](e)
		if err != nil {
			return View{}, false
		}
		return View{Title: "GitHub login removed",
			Text: fmt.Sprintf("%s is no longer your GitHub login in accessbot.", code(p.Login)),
			Tone: ToneNeutral, Footer: footer}, true
	}
	return View{}, false
}
