package discord

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// VerbLink is `/access link`: Discord gives bots no email, so a person ties their Discord
// account to their work email themselves, and an admin or the person from another platform
// confirms it.
//
//	/access link <email>          on Discord: ask for a link; the answer holds a code
//	/access link <code>           anywhere else, as that email: confirm it
//	/access link confirm <id>     an admin, anywhere: confirm the link of Discord user <id>
//	/access link remove <id>      an admin, anywhere: remove it
//	/access link pending          an admin: the links waiting for confirmation
//	/access link                  on Discord: your link
const VerbLink = "link"

// DefaultCodeTTL is how long a link's confirmation code works.
const DefaultCodeTTL = 24 * time.Hour

// LinkOptions configure Links.
type LinkOptions struct {
	// Store keeps the links. Required.
	Store bot.LinkStore
	// Client tells the people the config maps (they need no link). May be nil.
	Client *Client
	// IsAdmin says whether someone may confirm and remove links (grants.Service.IsAdmin).
	// Required.
	IsAdmin func(ctx context.Context, a grants.Actor) bool
	// CodeTTL is how long a code works (DefaultCodeTTL when 0).
	CodeTTL time.Duration
	Clock   clock.Clock
	Log     zerolog.Logger
}

// Links answers `/access link` on every platform: Wrap puts it in front of the bot's handler.
type Links struct {
	store   bot.LinkStore
	client  *Client
	isAdmin func(context.Context, grants.Actor) bool
	ttl     time.Duration
	clock   clock.Clock
	log     zerolog.Logger
}

// NewLinks returns Links.
func NewLinks(o LinkOptions) (*Links, error) {
	if o.Store == nil || o.IsAdmin == nil {
		return nil, errors.New("discord links need a store and an admin check")
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = DefaultCodeTTL
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Links{store: o.Store, client: o.Client, isAdmin: o.IsAdmin, ttl: o.CodeTTL, clock: o.Clock,
		log: o.Log.With().Str("component", "discord-links").Logger()}, nil
}

// Wrap returns a handler that answers `/access link ...` itself and passes every other command,
// and every click, to next.
func (l *Links) Wrap(next bot.Handler) bot.Handler { return linkHandler{links: l, next: next} }

type linkHandler struct {
	links *Links
	next  bot.Handler
}

func (h linkHandler) Command(ctx context.Context, a grants.Actor, text string) bot.Reply {
	if r, ok := h.links.Command(ctx, a, text); ok {
		return r
	}
	return h.next.Command(ctx, a, text)
}

func (h linkHandler) Act(ctx context.Context, a grants.Actor, act bot.Action) bot.Reply {
	return h.next.Act(ctx, a, act)
}

// IsLinkCommand reports whether text is a `/access link` command.
func IsLinkCommand(text string) bool {
	_, ok := linkArgs(text)
	return ok
}

// linkArgs returns what follows "link" in a `/access link` command.
func linkArgs(text string) (string, bool) {
	w, rest := splitWord(text)
	if strings.EqualFold(w, "/access") {
		w, rest = splitWord(rest)
	}
	if !strings.EqualFold(w, VerbLink) {
		return "", false
	}
	return rest, true
}

func splitWord(s string) (string, string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		return s[:i], strings.TrimSpace(s[i:])
	}
	return s, ""
}

// Command answers text when it is a `/access link` command (ok true), as the actor: on Discord
// the actor of an unlinked user has an empty ID.
func (l *Links) Command(ctx context.Context, a grants.Actor, text string) (bot.Reply, bool) {
	rest, ok := linkArgs(text)
	if !ok {
		return bot.Reply{}, false
	}
	sub, arg := splitWord(rest)
	switch strings.ToLower(sub) {
	case "":
		return l.status(ctx, a), true
	case "confirm", "approve":
		return l.confirmByAdmin(ctx, a, arg), true
	case "remove", "unlink", "delete":
		return l.remove(ctx, a, arg), true
	case "pending", "list":
		return l.pending(ctx, a), true
	}
	switch {
	case strings.Contains(sub, "@"):
		return l.request(ctx, a, sub), true
	case looksLikeCode(sub):
		return l.confirmByCode(ctx, a, sub), true
	case a.Platform == PlatformName:
		return problem("That is not an email", "Type your work email, the one accessbot knows you by: `/access link you@example.com`."), true
	}
	return problem("That is not a code", "Type the code you got on Discord, like `/access link ABCD-EFGH`."), true
}

// looksLikeCode reports whether s is a confirmation code, as typed (any case, dash or not).
func looksLikeCode(s string) bool {
	norm := strings.ToUpper(strings.NewReplacer("-", "", "`", "").Replace(s))
	if len(norm) != 8 {
		return false
	}
	for _, c := range norm {
		if !strings.ContainsRune(codeAlphabet, c) {
			return false
		}
	}
	return true
}

func privateReply(v bot.View) bot.Reply { return bot.Reply{Private: true, View: &v} }

func problem(title, text string) bot.Reply {
	return privateReply(bot.View{Title: title, Text: text, Tone: bot.ToneDanger})
}

// NotLinkedView tells a Discord user the config does not map and who has no confirmed link
// how to link their account.
func NotLinkedView(userID string) bot.View {
	return bot.View{
		Title: "Link your Discord account first",
		Text: "accessbot knows people by their work email, and Discord does not share it with bots.\n\n" +
			"Type `/access link you@example.com` with your work email. Then confirm it from Slack or the other chat where accessbot knows you, with the code you get, or ask an admin to confirm it.",
		Footer: "Your Discord user ID: " + userID,
		Tone:   bot.ToneWarning,
	}
}

func (l *Links) status(ctx context.Context, a grants.Actor) bot.Reply {
	if a.Platform != PlatformName {
		return privateReply(bot.View{Title: "Linking a Discord account", Tone: bot.ToneNeutral,
			Text: "On Discord, `/access link you@example.com` asks to link a Discord account to that email; the answer holds a code. Type `/access link <code>` here to confirm it.\n\nAdmins: `/access link pending`, `/access link confirm <Discord user ID>`, `/access link remove <Discord user ID>`."})
	}
	if l.client != nil && l.client.Mapped(a.PlatformID) != "" {
		return privateReply(bot.View{Title: "Your Discord account is linked", Tone: bot.ToneSuccess,
			Text: "The config maps it to " + l.client.Mapped(a.PlatformID) + "."})
	}
	link, ok, err := l.store.DiscordLink(ctx, a.PlatformID)
	if err != nil {
		l.log.Error().Err(err).Str("discord_user", a.PlatformID).Msg("read a Discord link")
		return problem("Sorry", "I could not read your link. Try again in a minute.")
	}
	switch {
	case !ok:
		return privateReply(NotLinkedView(a.PlatformID))
	case link.Confirmed():
		return privateReply(bot.View{Title: "Your Discord account is linked", Tone: bot.ToneSuccess,
			Text: "It is linked to " + link.Person + " (confirmed " + link.ConfirmedAt.UTC().Format("2006-01-02") + ")."})
	}
	return privateReply(bot.View{Title: "Your link is waiting for confirmation", Tone: bot.TonePending,
		Text: "You asked to link this account to " + link.Person + ". Confirm it from another chat with the code you got, or ask an admin to run `/access link confirm " + a.PlatformID + "`. To start again, type `/access link <email>`."})
}

// request records a pending link of the Discord user to email, with a new code.
func (l *Links) request(ctx context.Context, a grants.Actor, email string) bot.Reply {
	if a.Platform != PlatformName {
		return problem("Link from Discord", "Ask for a link on Discord with `/access link "+email+"`; then type the code you get here.")
	}
	if a.ID != "" {
		return privateReply(bot.View{Title: "Your Discord account is already linked", Tone: bot.ToneNeutral,
			Text: "It is linked to " + a.ID + ". An admin can remove the link with `/access link remove " + a.PlatformID + "`."})
	}
	email = strings.ToLower(strings.Trim(email, "<>\"'`"))
	if !plausibleEmail(email) {
		return problem("That is not an email", "Type your work email, the one accessbot knows you by: `/access link you@example.com`.")
	}
	code, hash := newCode()
	now := l.clock.Now().UTC()
	link := bot.Link{UserID: a.PlatformID, Person: email, Name: a.Name, CodeHash: hash, RequestedAt: now}
	err := l.store.RequestDiscordLink(ctx, link, audit.Event{
		At: now, Actor: PlatformName + ":" + a.PlatformID, Subject: email,
	}.With(audit.IdentityLinkRequestedData{Platform: PlatformName, PlatformID: a.PlatformID, Person: email, Name: a.Name}))
	switch {
	case errors.Is(err, bot.ErrAlreadyLinked):
		return problem("Your Discord account is already linked", "An admin can remove the link with `/access link remove "+a.PlatformID+"`.")
	case err != nil:
		l.log.Error().Err(err).Str("discord_user", a.PlatformID).Msg("store a Discord link request")
		return problem("Sorry", "I could not store your request. Try again in a minute.")
	}
	return privateReply(bot.View{
		Title: "Almost linked: confirm it's you",
		Text: "To link this Discord account to " + email + ", do one of these within " + bot.Duration(l.ttl) + ":\n\n" +
			"• In Slack (or the other chat where accessbot knows you as " + email + "), type `/access link " + code + "`\n" +
			"• Or ask an admin to type `/access link confirm " + a.PlatformID + "`",
		Fields: []bot.Field{{Label: "Code", Value: code}, {Label: "Discord user ID", Value: a.PlatformID}},
		Footer: "Until then, accessbot answers you here only about linking.",
		Tone:   bot.TonePending,
	})
}

func (l *Links) confirmByCode(ctx context.Context, a grants.Actor, code string) bot.Reply {
	if a.ID == "" {
		return problem("Type the code in your other chat", "The code confirms that the email is yours: type `/access link "+code+"` in Slack, or the other chat where accessbot knows you by that email, not here.")
	}
	hash := hashCode(code)
	now := l.clock.Now().UTC()
	pending, err := l.store.PendingDiscordLinks(ctx, strings.ToLower(a.ID))
	if err != nil {
		l.log.Error().Err(err).Str("actor", a.ID).Msg("read pending Discord links")
		return problem("Sorry", "I could not read the pending links. Try again in a minute.")
	}
	var match *bot.Link
	for i := range pending {
		if subtle.ConstantTimeCompare([]byte(pending[i].CodeHash), []byte(hash)) == 1 {
			match = &pending[i]
		}
	}
	if match == nil || now.Sub(match.RequestedAt) > l.ttl {
		return problem("No link to confirm", "No Discord account asked to be linked to "+a.ID+" with that code (codes work for "+bot.Duration(l.ttl)+"). Ask again on Discord with `/access link "+a.ID+"`.")
	}
	return l.confirm(ctx, a, *match, hash, bot.LinkViaCode, now)
}

func (l *Links) confirmByAdmin(ctx context.Context, a grants.Actor, userID string) bot.Reply {
	if r, ok := l.mustBeAdmin(ctx, a); !ok {
		return r
	}
	userID = strings.Trim(userID, "<@!>")
	if userID == "" {
		return problem("Whose link?", "Say whose: `/access link confirm <Discord user ID>` (`/access link pending` lists them).")
	}
	link, ok, err := l.store.DiscordLink(ctx, userID)
	if err != nil {
		l.log.Error().Err(err).Str("discord_user", userID).Msg("read a Discord link")
		return problem("Sorry", "I could not read the link. Try again in a minute.")
	}
	if !ok || link.Confirmed() {
		return problem("No link to confirm", "Discord user "+userID+" has no link waiting for confirmation (`/access link pending` lists them).")
	}
	return l.confirm(ctx, a, link, "", bot.LinkViaAdmin, l.clock.Now().UTC())
}

func (l *Links) confirm(ctx context.Context, a grants.Actor, link bot.Link, hash, via string, now time.Time) bot.Reply {
	done, err := l.store.ConfirmDiscordLink(ctx, link.UserID, hash, a.ID, via, now, audit.Event{
		At: now, Actor: a.ID, Subject: link.Person,
	}.With(audit.IdentityLinkedData{Platform: PlatformName, PlatformID: link.UserID, Person: link.Person, Via: via, ConfirmedOn: a.Platform}))
	switch {
	case errors.Is(err, bot.ErrNoPendingLink):
		return problem("No link to confirm", "That link is no longer waiting: it was confirmed, replaced or removed meanwhile.")
	case errors.Is(err, bot.ErrAlreadyLinked):
		return problem("Already linked", link.Person+" is already linked to another Discord account; an admin can remove that link first with `/access link remove <Discord user ID>`.")
	case err != nil:
		l.log.Error().Err(err).Str("discord_user", link.UserID).Msg("confirm a Discord link")
		return problem("Sorry", "I could not confirm the link. Try again in a minute.")
	}
	return privateReply(bot.View{Title: "Discord account linked", Tone: bot.ToneSuccess,
		Text:   "Discord user " + done.Name + " (" + done.UserID + ") is now " + done.Person + " in accessbot.",
		Footer: "Confirmed by " + a.ID + " via " + via})
}

func (l *Links) remove(ctx context.Context, a grants.Actor, userID string) bot.Reply {
	if r, ok := l.mustBeAdmin(ctx, a); !ok {
		return r
	}
	userID = strings.Trim(userID, "<@!>")
	if userID == "" {
		return problem("Whose link?", "Say whose: `/access link remove <Discord user ID>`.")
	}
	now := l.clock.Now().UTC()
	link, err := l.store.RemoveDiscordLink(ctx, userID,
		audit.Event{At: now, Actor: a.ID}.With(audit.IdentityUnlinkedData{Platform: PlatformName, PlatformID: userID}))
	switch {
	case errors.Is(err, grants.ErrNotFound):
		return problem("No such link", "Discord user "+userID+" has no link.")
	case err != nil:
		l.log.Error().Err(err).Str("discord_user", userID).Msg("remove a Discord link")
		return problem("Sorry", "I could not remove the link. Try again in a minute.")
	}
	return privateReply(bot.View{Title: "Discord link removed", Tone: bot.ToneNeutral,
		Text: "Discord user " + link.UserID + " is no longer linked to " + link.Person + "."})
}

func (l *Links) pending(ctx context.Context, a grants.Actor) bot.Reply {
	if r, ok := l.mustBeAdmin(ctx, a); !ok {
		return r
	}
	list, err := l.store.PendingDiscordLinks(ctx, "")
	if err != nil {
		l.log.Error().Err(err).Msg("read pending Discord links")
		return problem("Sorry", "I could not read the pending links. Try again in a minute.")
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].RequestedAt.Before(list[j].RequestedAt) })
	v := bot.View{Title: "Discord links waiting for confirmation", Tone: bot.ToneNeutral}
	if len(list) == 0 {
		v.Text = "None."
		return privateReply(v)
	}
	v.Text = "Confirm one with `/access link confirm <Discord user ID>` once you know the account is that person's."
	for i, link := range list {
		if i == 20 {
			v.Footer = fmt.Sprintf("and %d more", len(list)-20)
			break
		}
		v.Fields = append(v.Fields, bot.Field{Label: link.Person,
			Value: link.Name + " (" + link.UserID + "), asked " + link.RequestedAt.UTC().Format("2006-01-02 15:04 UTC")})
	}
	return privateReply(v)
}

func (l *Links) mustBeAdmin(ctx context.Context, a grants.Actor) (bot.Reply, bool) {
	if a.ID == "" || !l.isAdmin(ctx, a) {
		return problem("Only admins can do that", "Admins confirm and remove Discord links. To link your own account, type `/access link you@example.com` on Discord."), false
	}
	return bot.Reply{}, true
}

func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && len(s) <= 254 && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\n<>()[],;:\"\\") &&
		!strings.Contains(domain, "@") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// codeAlphabet has no 0/O or 1/I/L: codes are read and typed by people.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newCode returns a confirmation code ("ABCD-EFGH", 40 bits) and its hash.
func newCode() (code, hash string) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[int(c)%len(codeAlphabet)])
	}
	code = string(out)
	return code, hashCode(code)
}

// hashCode is the stored form of a code: SHA-256 of its letters, uppercased, without dashes.
func hashCode(code string) string {
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "", "`", "").Replace(code))
	sum := sha256.Sum256([]byte("accessbot-discord-link:" + norm))
	return hex.EncodeToString(sum[:])
}
