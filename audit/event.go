// Package audit owns accessbot's tamper-evident record: the Event, the hash chain that links
// each event to the one before it, verification of the chain, and exports for auditors.
//
// The chain: hash(n) = SHA-256(hash(n-1) || canonical(event n)), with hash(0) all zeros. Changing,
// removing or reordering any stored event breaks every hash from that point on, and the head
// (last sequence number and hash) kept beside the log catches a removed tail.
//
// The package imports nothing else of accessbot; storage appends and reads events for it.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Event types. A type names what happened, in the past tense of the domain.
const (
	RequestCreated     = "request.created"
	RequestApproved    = "request.approved"
	RequestDenied      = "request.denied"
	RequestCancelled   = "request.cancelled"
	RequestExpired     = "request.expired"
	RequestRefused     = "request.refused" // a request the policy refused (not allowed, too long)
	ReviewApproved     = "review.approved"
	ReviewDenied       = "review.denied"
	ReviewRefused      = "review.refused" // a click by someone who may not decide
	GrantActivating    = "grant.activating"
	GrantActive        = "grant.active"
	GrantFailed        = "grant.failed"
	GrantRevoking      = "grant.revoking"
	GrantRevoked       = "grant.revoked"
	GrantRevokeFailed  = "grant.revoke_failed"
	GrantRetry         = "grant.retry" // one failed attempt; the grant keeps its state
	GrantExtended      = "grant.extended"
	GrantWarned        = "grant.expiry_warning"
	BreakGlassUsed     = "breakglass.used"
	BreakGlassReviewed = "breakglass.reviewed"
	AlertRaised        = "alert.raised"
	ConfigLoaded       = "config.loaded"
	AuthFailed         = "auth.failed" // an inbound request with a bad signature
	// SSHKeyAdded and SSHKeyRemoved record a person registering or removing an SSH public key
	// (`/access ssh-key`); data: fingerprint, never the key.
	SSHKeyAdded   = "sshkey.added"
	SSHKeyRemoved = "sshkey.removed"
	// ScanCompleted records one standing-privilege scan: what it listed and the access no
	// active grant explains (data: resources, findings, list, errors, and alert when it found any).
	ScanCompleted = "scan.completed"
	// IdentityLinkRequested, IdentityLinked and IdentityUnlinked record a chat account without
	// an email (Discord) being tied to a person: asked for with `/access link <email>`,
	// confirmed by an admin or by the person from another platform, removed by an admin
	// (data: platform, platform_id, person, via).
	IdentityLinkRequested = "identity.link_requested"
	IdentityLinked        = "identity.linked"
	IdentityUnlinked      = "identity.unlinked"
	// IdentityRefused records a chat account accessbot will not act for: a guest, someone from
	// another workspace or organization, an unconfirmed email, an email domain not allowed
	// (data: platform, platform_id, refused, and what the platform showed: team, enterprise,
	// person).
	IdentityRefused = "identity.refused"
	// StepUpRefused records an approval that needed the approver to log in again at the
	// identity provider and was refused there (wrong person, stale login, no MFA, a replayed
	// or forged state, an expired link, an error of the provider).
	StepUpRefused = "stepup.refused"
	// ActivitySessionSeen records one session of a grant's account at the target, sampled
	// while the grant was active (ActivitySessionSeenData): written once, when the session
	// ends or its grant does, with when it was first and last seen.
	ActivitySessionSeen = "activity.session_seen"
)

// Event is one append-only record.
type Event struct {
	// Seq is the event's position in the chain, from 1, with no gaps.
	Seq int64 `json:"seq"`
	// At is when it happened, in UTC with microsecond precision (what every store keeps).
	At   time.Time `json:"at"`
	Type string    `json:"type"`
	// Actor is who caused it: a person's ID, or "accessbot" for the scheduler.
	Actor     string `json:"actor"`
	Resource  string `json:"resource,omitempty"`
	Subject   string `json:"subject,omitempty"` // the person the access is for
	RequestID string `json:"request_id,omitempty"`
	GrantID   string `json:"grant_id,omitempty"`
	// Data holds the details of the event (a reason, a duration, an error). Never a secret.
	Data map[string]string `json:"data,omitempty"`
	// PrevHash and Hash are lowercase hex SHA-256.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// ZeroHash is the PrevHash of the first event.
var ZeroHash = hex.EncodeToString(make([]byte, sha256.Size))

// Head is the end of the chain: the last sequence number and its hash. An empty log has Seq 0
// and ZeroHash.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// EmptyHead is the head of an empty log.
func EmptyHead() Head { return Head{Seq: 0, Hash: ZeroHash} }

// canonicalEvent fixes the field order and content that the hash covers.
type canonicalEvent struct {
	Seq       int64             `json:"seq"`
	At        string            `json:"at"`
	Type      string            `json:"type"`
	Actor     string            `json:"actor"`
	Resource  string            `json:"resource"`
	Subject   string            `json:"subject"`
	RequestID string            `json:"request_id"`
	GrantID   string            `json:"grant_id"`
	Data      map[string]string `json:"data"` // encoding/json sorts map keys
}

// Canonical returns the bytes the hash covers: the event without its hashes, as JSON with a
// fixed field order, sorted data keys and the time in RFC 3339 UTC with microseconds.
func Canonical(e Event) []byte {
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	b, err := json.Marshal(canonicalEvent{
		Seq:       e.Seq,
		At:        e.At.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z"),
		Type:      e.Type,
		Actor:     e.Actor,
		Resource:  e.Resource,
		Subject:   e.Subject,
		RequestID: e.RequestID,
		GrantID:   e.GrantID,
		Data:      data,
	})
	if err != nil {
		// Only strings and an int reach json.Marshal: it cannot fail.
		panic(err)
	}
	return b
}

// ComputeHash returns hex(SHA-256(prevHash bytes || Canonical(e))).
func ComputeHash(prevHash string, e Event) string {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		// A malformed previous hash still yields a deterministic (and mismatching) result.
		prev = []byte(prevHash)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(Canonical(e))
	return hex.EncodeToString(h.Sum(nil))
}

// Seal places e after head: it sets Seq, normalises At, and fills PrevHash and Hash. The caller
// stores the result and moves the head to it, in the same transaction as the change it records.
func Seal(head Head, e Event) Event {
	e.Seq = head.Seq + 1
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.PrevHash = head.Hash
	e.Hash = ComputeHash(head.Hash, e)
	return e
}
