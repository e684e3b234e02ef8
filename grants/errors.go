package grants

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/accessbot/accessbot/internal/duration"
	"github.com/accessbot/accessbot/internal/suggest"
)

// Error is a refusal by the domain: a code for programs (one of ErrNotFound, ErrForbidden,
// ErrInvalid, ErrConflict), a machine key saying why, one sentence for a person, and the details
// the chat layer needs to help (the maximum duration, the reason pattern, the closest resource
// names, who is allowed).
type Error struct {
	// Code is ErrNotFound, ErrForbidden, ErrInvalid or ErrConflict; errors.Is matches it.
	Code error
	// Reason is a stable machine key, one of the Reason* constants.
	Reason string
	// Message is one clear sentence for a person.
	Message string
	// Details help the edge say more: "max", "pattern", "closest", "allowed", "state", ...
	Details map[string]string
}

// Reasons carried by *Error.
const (
	ReasonUnknownResource    = "unknown_resource"
	ReasonUnknownRequest     = "unknown_request"
	ReasonUnknownGrant       = "unknown_grant"
	ReasonDurationTooLong    = "duration_too_long"
	ReasonDurationInvalid    = "duration_invalid"
	ReasonReasonRequired     = "reason_required"
	ReasonReasonMismatch     = "reason_mismatch"
	ReasonNotAllowed         = "not_allowed"
	ReasonSelfApproval       = "self_approval"
	ReasonNotApprover        = "not_approver"
	ReasonAlreadyDecided     = "already_decided"
	ReasonAlreadyReviewed    = "already_reviewed"
	ReasonNotPending         = "not_pending"
	ReasonRequestExpired     = "request_expired"
	ReasonNotActive          = "not_active"
	ReasonNotRevoking        = "not_revoking"
	ReasonNotRequester       = "not_requester"
	ReasonNotOwner           = "not_owner"
	ReasonNotBreakGlass      = "not_breakglass"
	ReasonBreakGlassDisabled = "breakglass_disabled"
	ReasonNotAdmin           = "not_admin"
	ReasonNoteRequired       = "note_required"
	ReasonUnknownActor       = "unknown_actor"
	ReasonAccount            = "account_invalid"
	// ReasonRateLimited refuses a request over one of the request limits (Limits).
	ReasonRateLimited = "rate_limited"
	// ReasonAccountTaken: the account name the request would use at the target is, or was,
	// another person's.
	ReasonAccountTaken = "account_taken"
	// ReasonAlreadyHeld: the person holds the access at the target already, not through
	// accessbot (adapters.Holder).
	ReasonAlreadyHeld = "already_held"
)

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%v: %s", e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrForbidden) (and the other codes) true for an *Error of that code.
func (e *Error) Is(target error) bool { return e.Code == target }

func newError(code error, reason, msg string, details map[string]string) *Error {
	return &Error{Code: code, Reason: reason, Message: msg, Details: details}
}

// fmtDuration writes a duration the way people write it and the config, the chat and the digest
// show it (duration.Format): 4h, 1h30m, 2d, 1d12h.
func fmtDuration(d time.Duration) string { return duration.Format(d) }

// closestNames returns up to three known names nearest to s by edit distance (or containing it),
// nearest first, for "did you mean" answers.
func closestNames(s string, known []string) []string {
	s = strings.ToLower(strings.TrimSpace(s))
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	limit := len(s)/3 + 2
	for _, k := range known {
		lk := strings.ToLower(k)
		d := suggest.Distance(s, lk)
		if s != "" && (strings.Contains(lk, s) || strings.Contains(s, lk)) && d > 1 {
			// A part of the name is a good hint even when many letters are missing.
			d = 1
		}
		if d <= limit {
			cands = append(cands, cand{k, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].name < cands[j].name
	})
	var out []string
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}
