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
// account to their work email themselves, and proves it from a platform that already knows them
// by that email (Slack, the web chat).
//
//	/access link <email>          on Discord: ask for a link; the answer holds a code
//	/access link <code>           elsewhere, as that email: shows the account, with buttons
//	                              to confirm it (only then is it linked) or refuse it
//	/access link remove <id>      an admin, anywhere: remove the link of Discord user <id>
//	/access link pending          an admin: the links waiting for confirmation
//	/access link                  on Discord: your link
//
// An admin cannot confirm a link: that would let an admin become anyone (issue 13). Only the
// person the link names, acting from a verified identity, makes it. People the config's
// discord.users maps have their account from the config and cannot link another; a mapped
// Discord account cannot be linked.
const VerbLink = "link"

// DefaultCodeTTL is how long a link's confirmation code works.
const DefaultCodeTTL = 24 * time.Hour

// LinkOptions configure Links.
type LinkOptions struct {
	// Store keeps the links. Required.
	Store bot.LinkStore
	// Client tells the people the config maps (they need no link). May be nil.
	Client *Client
	// IsAdmin says whether someone may list and remove links (grants.Service.IsAdmin); nobody
	// but the person confirms one.
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

// rememberer is the part of the Bot that records where a person is reached; a link command
// or click is use of the platform like any other, and the DM that tells the person of their
// link must reach them where they confirmed it.
type rememberer interface {
	Remember(ctx context.Context, a grants.Actor)
}

func (h linkHandler) remember(ctx context.Context, a grants.Actor) {
	if r, ok := h.next.(rememberer); ok && a.ID != "" {
		r.Remember(ctx, a)
	}
}

func (h linkHandler) Command(ctx context.Context, a grants.Actor, text string) bot.Reply {
	if IsLinkCommand(text) {
		h.remember(ctx, a)
	}
	if r, ok := h.links.Command(ctx, a, text); ok {
		return r
	}
	return h.next.Command(ctx, a, text)
}

func (h linkHandler) Act(ctx context.Context, a grants.Actor, act bot.Action) bot.Reply {
	if act.ID == bot.ActionLinkConfirm || act.ID == bot.ActionLinkCancel {
		h.remember(ctx, a)
	}
	if r, ok := h.links.Act(ctx, a, act); ok {
		return r
	}
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
		return problem("Admins cannot confirm links",
			"A Discord account is linked only when its person confirms it: they type the code Discord gave them in Slack or the web chat, where accessbot already knows them, and confirm the account they are shown. Admins can list pending links (`/access link pending`) and remove links (`/access link remove <Discord user ID>`)."), true
	case "remove", "unlink", "delete":
		return l.remove(ctx, a, arg), true
	case "pending", "list":
		return l.pending(ctx, a), true
	}
	switch {
	case strings.Contains(sub, "@"):
		return l.request(ctx, a, sub), true
	case looksLikeCode(sub):
		return l.prompt(ctx, a, sub), true
	case a.Platform == PlatformName:
		return problem("That is not an email", "Type your work email, the one accessbot knows you by: `/access link you@example.com`."), true
	}
	return problem("That is not a code", "Type the code you got on Discord, like `/access link ABCD-EFGH`."), true
}

// Act answers a click on the buttons of the link prompt (ok true); other clicks are not
// Links'.
func (l *Links) Act(ctx context.Context, a grants.Actor, act bot.Action) (bot.Reply, bool) {
	switch act.ID {
	case bot.ActionLinkConfirm:
		return l.decide(ctx, a, act.Value, true), true
	case bot.ActionLinkCancel:
		return l.decide(ctx, a, act.Value, false), true
	}
	return bot.Reply{}, false
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
			"Type `/access link you@example.com` with your work email. Then type the code you get in Slack or the other chat where accessbot knows you, and confirm that the account is yours.",
		Footer: "Your Discord user ID: " + userID,
		Tone:   bot.ToneWarning,
	}
}

func (l *Links) status(ctx context.Context, a grants.Actor) bot.Reply {
	if a.Platform != PlatformName {
		return privateReply(bot.View{Title: "Linking a Discord account", Tone: bot.ToneNeutral,
			Text: "On Discord, `/access link you@example.com` asks to link a Discord account to that email; the answer holds a code. Type `/access link <code>` here, check the account you are shown, and confirm it: only you can.\n\nAdmins: `/access link pending`, `/access link remove <Discord user ID>`."})
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
	case link.Confirmed() && !link.InForce():
		return privateReply(bot.View{Title: "Your link is not in force", Tone: bot.ToneWarning,
			Text: "An admin confirmed your link to " + link.Person + " alone, which accessbot no longer accepts: only you can confirm it. Ask an admin to remove it with `/access link remove " + a.PlatformID + "`, then link again with `/access link you@example.com`."})
	case link.Confirmed() && a.ID == "":
		return privateReply(bot.View{Title: "Your link is not in force", Tone: bot.ToneWarning,
			Text: "The config gives " + link.Person + " another Discord account, so this one is not linked. Ask an admin to remove this link with `/access link remove " + a.PlatformID + "`."})
	case link.Confirmed():
		return privateReply(bot.View{Title: "Your Discord account is linked", Tone: bot.ToneSuccess,
			Text: "It is linked to " + link.Person + " (confirmed " + link.ConfirmedAt.UTC().Format("2006-01-02") + ")."})
	}
	return privateReply(bot.View{Title: "Your link is waiting for confirmation", Tone: bot.TonePending,
		Text: "You asked to link this account to " + link.Person + ". Type the code you got in Slack or the other chat where accessbot knows you, and confirm the account there. To start again, type `/access link <email>`."})
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
	if r, taken := l.taken(ctx, a.PlatformID, email); taken {
		return r
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
		Text: "To link this Discord account to " + email + ", within " + bot.Duration(l.ttl) + ":\n\n" +
			"• In Slack (or the other chat where accessbot knows you as " + email + "), type `/access link " + code + "`\n" +
			"• Check that the account it shows is this one, and confirm it\n\n" +
			"Only " + email + " can confirm it; nobody else, an admin included.",
		Fields: []bot.Field{{Label: "Code", Value: code}, {Label: "Discord user ID", Value: a.PlatformID}},
		Footer: "Until then, accessbot answers you here only about linking.",
		Tone:   bot.TonePending,
	})
}

// taken answers (true) when the Discord user or the person already has an account another way:
// the config maps the user or the person, or the person has a link in force. It is checked when
// a link is asked for, shown and confirmed, as the config may change meanwhile; the store checks
// links again in the confirming transaction.
func (l *Links) taken(ctx context.Context, userID, person string) (bot.Reply, bool) {
	if l.client != nil {
		if l.client.Mapped(userID) != "" {
			return problem("This Discord account is in the config",
				"accessbot's config maps Discord user "+userID+" to a person: it cannot be linked to anyone."), true
		}
		if l.client.MappedUser(person) != "" {
			return problem("That email has its Discord account",
				"accessbot's config maps "+person+" to another Discord account: a second one cannot be linked. If the config is wrong, ask an admin."), true
		}
	}
	if other, ok, err := l.store.DiscordLinkOf(ctx, person); err != nil {
		l.log.Error().Err(err).Str("person", person).Msg("read a person's Discord link")
		return problem("Sorry", "I could not read the links. Try again in a minute."), true
	} else if ok && other.UserID != userID {
		return problem("That email is already linked",
			person+" is linked to another Discord account; an admin can remove that link first with `/access link remove "+other.UserID+"`."), true
	}
	return bot.Reply{}, false
}

// prompt answers a code typed by the person it was made for, on a platform where accessbot
// already knows them: it shows what would be linked and asks them to confirm. Typing the code
// links nothing, so a person talked into typing someone's code sees whose account it is.
func (l *Links) prompt(ctx context.Context, a grants.Actor, code string) bot.Reply {
	if a.ID == "" || a.Platform == PlatformName {
		return problem("Type the code in your other chat", "The code confirms that the email is yours: type `/access link "+code+"` in Slack, or the other chat where accessbot knows you by that email, not here.")
	}
	hash := hashCode(code)
	now := l.clock.Now().UTC()
	// Only the links that name the typist: someone else's code matches nothing.
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
	if r, taken := l.taken(ctx, match.UserID, match.Person); taken {
		return r
	}
	return privateReply(bot.LinkPromptView(*match, PlatformName, match.UserID+":"+linkToken(*match), now))
}

// decide carries out a click on the prompt: the clicker must be the person the pending link
// names, and the link the one the prompt showed (a link asked for again has another token).
func (l *Links) decide(ctx context.Context, a grants.Actor, value string, confirm bool) bot.Reply {
	if a.ID == "" || a.Platform == PlatformName {
		return problem("Confirm it in your other chat", "A Discord link is confirmed from Slack, or the other chat where accessbot knows you, not here.")
	}
	userID, token, _ := strings.Cut(value, ":")
	gone := problem("No link to confirm", "That request is no longer waiting: it was confirmed, replaced, removed, or is older than "+bot.Duration(l.ttl)+". Ask again on Discord with `/access link "+a.ID+"`.")
	if userID == "" || token == "" || !isDigits(userID) {
		return gone
	}
	link, ok, err := l.store.DiscordLink(ctx, userID)
	if err != nil {
		l.log.Error().Err(err).Str("discord_user", userID).Msg("read a Discord link")
		return problem("Sorry", "I could not read the link. Try again in a minute.")
	}
	now := l.clock.Now().UTC()
	if !ok || link.Confirmed() || now.Sub(link.RequestedAt) > l.ttl ||
		subtle.ConstantTimeCompare([]byte(token), []byte(linkToken(link))) != 1 {
		return gone
	}
	if !strings.EqualFold(link.Person, a.ID) {
		// Only the person the link names decides; an admin, or whoever got the prompt's
		// buttons, cannot.
		l.log.Warn().Str("actor", a.ID).Str("discord_user", userID).Str("person", link.Person).
			Msg("someone else clicked a Discord link prompt")
		return problem("Not yours to confirm", "Only "+link.Person+" can confirm or refuse this link.")
	}
	if !confirm {
		_, err := l.store.RemoveDiscordLink(ctx, userID,
			audit.Event{At: now, Actor: a.ID}.With(audit.IdentityUnlinkedData{Platform: PlatformName, PlatformID: userID}))
		if err != nil && !errors.Is(err, grants.ErrNotFound) {
			l.log.Error().Err(err).Str("discord_user", userID).Msg("remove a refused Discord link")
			return problem("Sorry", "I could not remove the request. Try again in a minute.")
		}
		return privateReply(bot.LinkRefusedView(link, PlatformName))
	}
	if r, taken := l.taken(ctx, link.UserID, link.Person); taken {
		return r
	}
	done, err := l.store.ConfirmDiscordLink(ctx, link.UserID, link.CodeHash, a.ID, bot.LinkViaCode, now, audit.Event{
		At: now, Actor: a.ID, Subject: link.Person,
	}.With(audit.IdentityLinkedData{Platform: PlatformName, PlatformID: link.UserID, Person: link.Person,
		Via: bot.LinkViaCode, ConfirmedOn: a.Platform, Name: link.Name}))
	switch {
	case errors.Is(err, bot.ErrNoPendingLink):
		return gone
	case errors.Is(err, bot.ErrAlreadyLinked):
		return problem("Already linked", link.Person+" is already linked to another Discord account; an admin can remove that link first with `/access link remove <Discord user ID>`.")
	case err != nil:
		l.log.Error().Err(err).Str("discord_user", link.UserID).Msg("confirm a Discord link")
		return problem("Sorry", "I could not confirm the link. Try again in a minute.")
	}
	return privateReply(bot.LinkedView(done, PlatformName))
}

// linkToken ties a prompt's buttons to the pending link it showed. It is derived from the
// code's hash, which only the store and the code's holder can produce, and changes when the
// link is asked for again.
func linkToken(l bot.Link) string {
	sum := sha256.Sum256([]byte("accessbot-discord-link-confirm:" + l.UserID + ":" + l.CodeHash))
	return hex.EncodeToString(sum[:16])
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
	v.Text = "Each waits for its person to type the code in another chat and confirm it; nobody else can. Remove one with `/access link remove <Discord user ID>`."
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
		return problem("Only admins can do that", "Admins list and remove Discord links. To link your own account, type `/access link you@example.com` on Discord."), false
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
