package tickets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/ident"
)

// Ticket is what accessbot reads of a ticket.
type Ticket struct {
	// Key is the ticket's key as the system shows it: "OPS-42", "INC0010001".
	Key     string
	Summary string
	// Status is the system's name of the ticket's status ("In Progress", "Resolved").
	Status string
	// Closed is the system's own sense of done: Jira's status category "done", ServiceNow's
	// resolved, closed or cancelled states.
	Closed   bool
	Priority string
	// Project is Jira's project key; ServiceNow's assignment group, when there is one.
	Project string
	// Assignee is the email of the person the ticket is assigned to, when the system shows it
	// (its display name otherwise); "" when unassigned.
	Assignee string
	// AssigneeName is the assignee's display name, for people.
	AssigneeName string
	// URL opens the ticket in a browser.
	URL string
}

// System is one ticket system.
type System interface {
	// Name is the system's name in the config (tickets.systems[].name).
	Name() string
	// Kind is the system's type: "jira" or "servicenow".
	Kind() string
	// Get reads one ticket. A ticket that does not exist is an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (Ticket, error)
	// Comment adds a comment to a ticket (a work note in ServiceNow), visible to the team.
	Comment(ctx context.Context, key, text string) error
}

// ErrNotFound: the system answered that the ticket does not exist (or accessbot may not see
// it, which Jira answers the same way).
var ErrNotFound = errors.New("ticket not found")

// APIError is an answer of a ticket system that was not a success.
type APIError struct {
	// Op says what was being done: "get OPS-42".
	Op     string
	Status int
	// Message is the system's own error text, bounded.
	Message string
	// RetryAfter is the wait a 429 or 503 asked for (Retry-After), zero when none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap makes a 404 an ErrNotFound.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// Permanent reports whether asking again cannot help: a request the system refuses as such
// (400, 404, 405, 409, 422...). 401 and 403 are not permanent: an operator fixes the
// credentials or the permissions, and the comments waiting go out then.
func (e *APIError) Permanent() bool {
	switch {
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden,
		e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return false
	case e.Status >= 400 && e.Status < 500:
		return true
	}
	return false
}

// IsPermanent reports whether err is an APIError that asking again cannot help.
func IsPermanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Permanent()
}

// RetryAfter reads a Retry-After header: seconds, or an HTTP date relative to now; zero when
// absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Token is a credential from the config: it prints redacted.
type Token string

func (Token) String() string   { return "[redacted]" }
func (Token) GoString() string { return `"[redacted]"` }

// MarshalJSON redacts the token.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Reveal returns the token's value, for the Authorization header only.
func (t Token) Reveal() string { return string(t) }

// Kinds of System, and their default patterns of a ticket key in a reason.
const (
	KindJira       = "jira"
	KindServiceNow = "servicenow"
)

// DefaultPattern is the pattern of a ticket key of a system kind, "" for an unknown kind.
func DefaultPattern(kind string) string {
	switch kind {
	case KindJira:
		return `[A-Z][A-Z0-9]+-[0-9]+`
	case KindServiceNow:
		return `(INC|CHG|RITM)[0-9]{7}`
	}
	return ""
}

// keyRE is what any key must look like before it goes into a URL or a query, whatever the
// configured pattern allows: letters, digits, '-' and '_', at most 64 of them.
var keyRE = ident.New(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`, `^[A-Za-z0-9][A-Za-z0-9_-]*$`, 1, 64)

// ValidKey reports whether key may be sent to a ticket system at all.
func ValidKey(key string) bool { return keyRE.MatchString(key) }

// MaxErrorBody bounds how much of an error answer is read and kept.
const MaxErrorBody = 4 << 10

// ClipMessage makes a system's error text one bounded line.
func ClipMessage(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
