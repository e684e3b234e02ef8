package bot

import (
	"context"
	"errors"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// GitHubLoginSource is the grants.AccountSource name of a verified GitHub login, and the
// `/access` sub-command that links one: resources with `account_from: github-login` grant to it.
const GitHubLoginSource = "github-login"

// GitHubLink is a person's GitHub login as GitHub confirmed it to them through the OAuth device
// flow. No token is part of it: the token that proved it was used once and dropped.
type GitHubLink struct {
	// Person is the person's accessbot ID (grants.CanonicalPerson).
	Person string
	// Login is as GitHub spells it; ID is GitHub's numeric user ID, which a rename keeps.
	Login string
	ID    int64
	// VerifiedAt is when GitHub confirmed it; Via how (audit.GitHubVia).
	VerifiedAt time.Time
	Via        string
}

// Errors of GitHubLinkStore.
var (
	// ErrGitHubLoginTaken: the GitHub account is linked to another person.
	ErrGitHubLoginTaken = errors.New("the GitHub account is linked to another person")
	// ErrNoGitHubLink: the person has no verified GitHub login.
	ErrNoGitHubLink = errors.New("no verified GitHub login")
)

// GitHubLinkStore keeps verified GitHub logins (storage.DB). Every change is one transaction
// with its audit event.
type GitHubLinkStore interface {
	// LinkGitHub stores l as the person's login, replacing the one they had (returned, zero
	// for none), with audit.GitHubLinked. When the login or ID is another person's it stores
	// nothing, records audit.GitHubLinkRefused and an alert.raised
	// (audit.AlertGitHubLoginTaken) in one transaction, and returns ErrGitHubLoginTaken.
	LinkGitHub(ctx context.Context, l GitHubLink) (previous GitHubLink, err error)
	// GitHubLink returns the person's link; ErrNoGitHubLink when they have none.
	GitHubLink(ctx context.Context, person string) (GitHubLink, error)
	// UnlinkGitHub removes the person's link with audit.GitHubUnlinked and returns it;
	// ErrNoGitHubLink when they have none.
	UnlinkGitHub(ctx context.Context, person string, at time.Time) (GitHubLink, error)
	// RefuseGitHub records a verification that stored nothing (audit.GitHubLinkRefused): the
	// person named another login, denied the authorization, or let the code expire.
	RefuseGitHub(ctx context.Context, person string, at time.Time, p audit.GitHubLinkRefusedData) error
}
