package audit

// GitHub logins verified by GitHub (`/access github-login`): a person proves which GitHub
// account is theirs through GitHub's OAuth device flow, and resources whose accounts come from
// that login (`account_from: github-login`) grant to it.
const (
	// GitHubLinked records a person's GitHub login verified by GitHub and stored; a re-link
	// names the login it replaced (GitHubLinkedData).
	GitHubLinked = "identity.github_linked"
	// GitHubLinkRefused records a verification that stored nothing: the login GitHub confirmed
	// is not the one the person named, belongs to another person, or the person denied the
	// authorization or let the code expire (GitHubLinkRefusedData).
	GitHubLinkRefused = "identity.github_link_refused"
	// GitHubUnlinked records a person removing their verified GitHub login (GitHubUnlinkedData).
	GitHubUnlinked = "identity.github_unlinked"
)

// Keys of the GitHub link payloads.
const (
	KeyLogin         = "login"
	KeyGitHubID      = "github_id"
	KeyPreviousLogin = "previous_login"
	KeyPreviousID    = "previous_github_id"
	KeyClaimed       = "claimed"
)

// Why identity.github_link_refused stored nothing (GitHubLinkRefusedData.Refused).
const (
	// GitHubRefusedMismatch: GitHub confirmed another login than the one the person named.
	GitHubRefusedMismatch = "mismatch"
	// GitHubRefusedTaken: the GitHub account is linked to another person (an alert too).
	GitHubRefusedTaken = "taken"
	// GitHubRefusedDenied: the person declined the authorization at GitHub.
	GitHubRefusedDenied = "denied"
	// GitHubRefusedExpired: the code expired before the person entered it.
	GitHubRefusedExpired = "expired"
	// GitHubRefusedFailed: GitHub could not be asked, or the link could not be stored.
	GitHubRefusedFailed = "failed"
)

// AlertGitHubLoginTaken is the alert.raised kind of a GitHub account that someone tried to link
// while it is linked to another person.
const AlertGitHubLoginTaken = "github_login_taken"

// GitHubVia is how a link was verified (GitHubLinkedData.Via): GitHub's OAuth device flow.
const GitHubVia = "device_flow"

// GitHubLinkedData is the payload of identity.github_linked. The event's Subject is the person.
type GitHubLinkedData struct {
	Login string
	ID    int64 // GitHub's numeric user ID, which a rename does not change
	Via   string
	// PreviousLogin and PreviousID are the link this one replaced; empty and 0 for a first link.
	PreviousLogin string
	PreviousID    int64
}

// EventType implements Payload.
func (GitHubLinkedData) EventType() string { return GitHubLinked }

func (p GitHubLinkedData) encode(w *dataWriter) {
	w.str(KeyLogin, p.Login)
	w.int(KeyGitHubID, p.ID)
	w.str(KeyVia, p.Via)
	w.opt(KeyPreviousLogin, p.PreviousLogin)
	w.optInt(KeyPreviousID, p.PreviousID)
}

func (p *GitHubLinkedData) decode(r *dataReader) {
	p.Login, p.ID, p.Via = r.str(KeyLogin), r.int64(KeyGitHubID), r.str(KeyVia)
	p.PreviousLogin, p.PreviousID = r.str(KeyPreviousLogin), r.int64(KeyPreviousID)
}

// GitHubLinkRefusedData is the payload of identity.github_link_refused. Login and ID are what
// GitHub confirmed (empty when the person denied or the code expired); Claimed is the login
// the person named, when they named one.
type GitHubLinkRefusedData struct {
	Refused string // one of the GitHubRefused* values
	Login   string
	ID      int64
	Claimed string
}

// EventType implements Payload.
func (GitHubLinkRefusedData) EventType() string { return GitHubLinkRefused }

func (p GitHubLinkRefusedData) encode(w *dataWriter) {
	w.str(KeyRefused, p.Refused)
	w.opt(KeyLogin, p.Login)
	w.optInt(KeyGitHubID, p.ID)
	w.opt(KeyClaimed, p.Claimed)
}

func (p *GitHubLinkRefusedData) decode(r *dataReader) {
	p.Refused, p.Login, p.ID, p.Claimed = r.str(KeyRefused), r.str(KeyLogin), r.int64(KeyGitHubID), r.str(KeyClaimed)
}

// GitHubUnlinkedData is the payload of identity.github_unlinked: the link removed.
type GitHubUnlinkedData struct {
	Login string
	ID    int64
}

// EventType implements Payload.
func (GitHubUnlinkedData) EventType() string { return GitHubUnlinked }

func (p GitHubUnlinkedData) encode(w *dataWriter) {
	w.str(KeyLogin, p.Login)
	w.int(KeyGitHubID, p.ID)
}

func (p *GitHubUnlinkedData) decode(r *dataReader) {
	p.Login, p.ID = r.str(KeyLogin), r.int64(KeyGitHubID)
}
