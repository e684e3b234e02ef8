package bot

import (
	"context"
	"errors"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// How a link was confirmed.
const (
	// LinkViaAdmin marks links an admin confirmed alone, which older versions allowed. Such a
	// link is not in force (an admin could make themselves anyone); an admin removes it and the
	// person links again.
	LinkViaAdmin = "admin"
	// LinkViaCode: the person typed the code on a platform that already knew them and confirmed
	// what they were shown.
	LinkViaCode = "code"
)

// Link ties a chat account that gives bots no email (Discord's, today) to a person. It is
// pending until the person confirms it from another platform where accessbot already knows them:
// they type the code the account got and confirm the account they are shown. Nobody else, an
// admin included, can confirm it. It lives here, not in the platform's package, so that storage
// can keep links without knowing a chat platform.
type Link struct {
	// UserID is the account's user ID on its platform (a Discord user ID).
	UserID string
	// Person is the accessbot ID (lowercase email) the user says is theirs.
	Person string
	// Name is the platform name they had when they asked.
	Name string
	// CodeHash is the hex SHA-256 of the code that confirms the link from another platform.
	CodeHash    string
	RequestedAt time.Time
	// ConfirmedAt is zero while the link is pending.
	ConfirmedAt time.Time
	ConfirmedBy string
	// Via says how it was confirmed: LinkViaAdmin or LinkViaCode.
	Via string
}

// Confirmed reports whether the link was confirmed (pending otherwise).
func (l Link) Confirmed() bool { return !l.ConfirmedAt.IsZero() }

// InForce reports whether the link makes the account its person: confirmed by the person
// themselves. A link an admin confirmed alone is not.
func (l Link) InForce() bool { return l.Confirmed() && l.Via != LinkViaAdmin }

// Errors of LinkStore.
var (
	// ErrAlreadyLinked: the account has a confirmed link (or, on confirm, the person is
	// already linked to another account on that platform).
	ErrAlreadyLinked = errors.New("already linked")
	// ErrNoPendingLink: nothing to confirm (no pending link, or another code).
	ErrNoPendingLink = errors.New("no pending link")
)

// LinkStore keeps links; storage implements it (in the discord_links table). Every change
// records its audit event in the same transaction.
type LinkStore interface {
	// RequestDiscordLink stores l (pending) as the user's link, replacing a pending one, and
	// records e. ErrAlreadyLinked when the user has a confirmed link.
	RequestDiscordLink(ctx context.Context, l Link, e audit.Event) error
	// ConfirmDiscordLink confirms the user's pending link with codeHash (required: only the
	// person, with the code, confirms) at `at` by `by` via `via`, records e completed with the
	// link's person, makes the account where the person is reached on that platform (DMs), and
	// returns the link. ErrNoPendingLink when there is none; ErrAlreadyLinked when the person
	// has another confirmed Discord account.
	ConfirmDiscordLink(ctx context.Context, userID, codeHash, by, via string, at time.Time, e audit.Event) (Link, error)
	// DiscordLink returns the user's link, pending or confirmed.
	DiscordLink(ctx context.Context, userID string) (Link, bool, error)
	// DiscordLinkOf returns the person's confirmed link.
	DiscordLinkOf(ctx context.Context, person string) (Link, bool, error)
	// PendingDiscordLinks lists pending links, oldest first: the person's only, unless person
	// is empty.
	PendingDiscordLinks(ctx context.Context, person string) ([]Link, error)
	// RemoveDiscordLink deletes the user's link, pending or confirmed, and the person's DM
	// address on that account, records e completed with the link's person, and returns the
	// link; grants.ErrNotFound when there is none.
	RemoveDiscordLink(ctx context.Context, userID string, e audit.Event) (Link, error)
}
