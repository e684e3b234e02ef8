package bot

import (
	"context"
	"errors"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/sshkey"
)

// Person is what a platform told accessbot about someone when they last used it. It is kept so
// that DMs reach them later (a grant that becomes active an hour after the request, after a
// restart).
type Person struct {
	// ID is the person's grants.Actor.ID.
	ID   string
	Name string
	// Platform and PlatformID say where and who they are on a chat platform.
	Platform   string
	PlatformID string
	// SeenAt is when they last acted there.
	SeenAt time.Time
}

// DeliveryKind says what a delivery sends.
type DeliveryKind string

const (
	// DeliverApproval posts, then keeps up to date, a request's approval message in a channel.
	// The view is rendered from the current state at send time.
	DeliverApproval DeliveryKind = "approval"
	// DeliverBreakGlass posts, then keeps up to date, the loud announcement of a break-glass use.
	DeliverBreakGlass DeliveryKind = "breakglass"
	// DeliverDM sends the requester a DM about the audit event Seq.
	DeliverDM DeliveryKind = "dm"
	// DeliverAlert posts the alert of the audit event Seq to the security channel.
	DeliverAlert DeliveryKind = "alert"
	// DeliverNotice sends a View stored with the delivery: to Channel, or by DM to Person.
	DeliverNotice DeliveryKind = "notice"
)

// DeliveryState is where a delivery is.
type DeliveryState string

const (
	DeliveryPending DeliveryState = "pending"
	DeliverySent    DeliveryState = "sent"
	// DeliveryFailed: given up (a permanent error, or too old).
	DeliveryFailed DeliveryState = "failed"
)

// Delivery is one message to send through one platform: a row of the outbox. The dispatcher
// makes them from audit events; the outbox sends them.
type Delivery struct {
	Platform string
	// Key identifies the delivery on its platform: storing a key again stores nothing, so a
	// dispatcher that replays events after a crash never sends twice.
	Key  string
	Kind DeliveryKind
	// Queue orders deliveries: those with the same non-empty Queue are sent one after the other
	// in (Seq, Index) order, so an update never overtakes the post it updates.
	Queue string
	// Message names the kept message that approval and break-glass deliveries post or update
	// ("request:r-1"); with Platform it keys the stored MessageRef.
	Message string
	// Channel is the destination channel; Person the person (grants.Actor.ID) a DM is for.
	Channel string
	Person  string
	// Seq is the audit event the delivery comes from, Index its position among that event's
	// deliveries.
	Seq   int64
	Index int
	// RequestID and GrantID name what the message is about.
	RequestID string
	GrantID   string
	// View is the message of a notice.
	View *View

	State     DeliveryState
	CreatedAt time.Time
	// DoneAt is when the delivery was sent or given up.
	DoneAt time.Time
	// Attempts counts failed sends.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string

	// Claim is set by ClaimDeliveries: the claim's token, which completing the delivery checks.
	Claim int64
	// CoverSeq is set by ClaimDeliveries: the highest Seq of the deliveries pending in the same
	// Queue at claim time. A kept message rendered after the claim shows all their changes.
	CoverSeq int64
	// Covers is set by ClaimDeliveries: how many other deliveries were pending in the same Queue
	// at claim time, which a coalescing MarkSent marks sent with this one (superseded changes of
	// a kept message that are never sent on their own).
	Covers int
}

// CursorMove moves a dispatcher's cursor in the transaction that enqueues the deliveries of the
// events it passed.
type CursorMove struct {
	Name     string
	From, To int64
}

// ErrUnknownPerson is returned by PersonDirectory.PlatformUser for someone never seen on that platform.
var ErrUnknownPerson = errors.New("person not known on this platform")

// ErrCursorMoved is returned by DeliveryQueue.Enqueue when the cursor is no longer where the move
// starts: another dispatcher handled those events first.
var ErrCursorMoved = errors.New("cursor moved meanwhile")

// MaxSSHKeys is the most keys one person may register.
const MaxSSHKeys = sshkey.MaxKeys

// Errors of the SSHKeyStore methods.
var (
	ErrKeyExists   = sshkey.ErrExists
	ErrTooManyKeys = sshkey.ErrTooMany
	ErrUnknownKey  = sshkey.ErrUnknown
)

// Store is what bot keeps in the database: the people it can DM, the outbox of deliveries, the
// references of kept messages, the dispatchers' cursors and people's SSH keys; it also reads the
// audit log. storage implements it. The Bot takes all of it and hands each of its parts only the
// piece it uses: a Dispatcher a DispatcherStore, an Outbox an OutboxStore, and so on.
type Store interface {
	PersonDirectory
	audit.Source
	Cursors
	DeliveryQueue
	SSHKeyStore
}

// PersonDirectory is where a person can be reached: who they are on each chat platform.
type PersonDirectory interface {
	// RememberPerson records (or refreshes) where a person can be reached.
	RememberPerson(ctx context.Context, p Person) error
	// PlatformUser returns the person's user ID on the platform, or ErrUnknownPerson.
	PlatformUser(ctx context.Context, personID, platform string) (string, error)
	// People returns what is known of a person on every platform, most recently seen first.
	People(ctx context.Context, personID string) ([]Person, error)
}

// Cursors keep how far each reader of the audit log (a platform's dispatcher, the digest) has
// got.
type Cursors interface {
	// InitCursor creates the named cursor at the current end of the audit log if it does not
	// exist (a new platform starts from now, not from the beginning of history), and returns it.
	InitCursor(ctx context.Context, name string) (int64, error)
	// Cursor returns the named cursor (0 when it does not exist).
	Cursor(ctx context.Context, name string) (int64, error)
}

// DeliveryQueue is the outbox as stored: the deliveries and the references of the kept messages
// they posted.
type DeliveryQueue interface {
	// Enqueue stores the deliveries whose keys are new and, when move is not nil, moves the
	// cursor in the same transaction (ErrCursorMoved when it is not at move.From).
	Enqueue(ctx context.Context, ds []Delivery, move *CursorMove) error
	// ClaimDeliveries claims up to limit pending deliveries of the platform that are due at now,
	// oldest first, skipping any behind an earlier pending delivery of its Queue; a claim lasts
	// until `until` (a crashed sender's deliveries come back then). Two senders never claim the
	// same delivery.
	ClaimDeliveries(ctx context.Context, platform string, now, until time.Time, limit int) ([]Delivery, error)
	// NextDelivery returns when the platform's earliest pending delivery that its Queue does not
	// hold back is due.
	NextDelivery(ctx context.Context, platform string) (at time.Time, ok bool, err error)
	// MarkSent records a sent delivery: its kept message's reference when ref is set, and,
	// when coalesce is set, every pending delivery of the same Queue and Kind up to d.CoverSeq as
	// sent too (the message sent shows their changes).
	MarkSent(ctx context.Context, d Delivery, ref *MessageRef, coalesce bool, now time.Time) error
	// RetryDelivery releases a claimed delivery until next, with the error; attempt says whether
	// the failure counts as an attempt (a rate limit does not).
	RetryDelivery(ctx context.Context, d Delivery, next time.Time, errText string, attempt bool) error
	// GiveUpDelivery marks a claimed delivery failed: it is not sent again.
	GiveUpDelivery(ctx context.Context, d Delivery, errText string, now time.Time) error
	// MessageRef returns where a kept message was posted.
	MessageRef(ctx context.Context, platform, message string) (MessageRef, bool, error)
	// PruneDeliveries deletes deliveries sent or failed before the given time.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}

// SSHKeyStore keeps the SSH public keys people register with `/access ssh-key`.
type SSHKeyStore interface {
	// AddPublicKey registers k (every field set, Key parsed and checked by ParseSSHKey) and
	// records audit.SSHKeyAdded, in one transaction. It returns ErrKeyExists when the person
	// has a key with that fingerprint, ErrTooManyKeys when they already have MaxSSHKeys.
	AddPublicKey(ctx context.Context, k SSHKey) error
	// PublicKeys returns a person's keys in authorized_keys form, the newest (preferred) first;
	// none is an empty slice. It is the adapters.PublicKeySource the sshcert adapter reads.
	PublicKeys(ctx context.Context, personID string) ([]string, error)
	// SSHKeys lists a person's keys, in the order of PublicKeys.
	SSHKeys(ctx context.Context, personID string) ([]SSHKey, error)
	// RemovePublicKey deletes the person's key with that fingerprint and records
	// audit.SSHKeyRemoved at `at`, in one transaction, and returns the key removed. It returns
	// ErrUnknownKey when the person has no such key: nobody removes another person's key.
	RemovePublicKey(ctx context.Context, personID, fingerprint string, at time.Time) (SSHKey, error)
}

// OutboxPending is how many deliveries wait in the outbox for one platform, and since when the
// oldest of them has.
type OutboxPending struct {
	Platform string
	Count    int
	// Oldest is the CreatedAt of the oldest pending delivery.
	Oldest time.Time
}

// OutboxStats reads the outbox's backlog for the metrics; storage.DB implements it. It is apart
// from Store because only the metrics ask it.
type OutboxStats interface {
	// OutboxPending returns, for each platform with pending deliveries, their count and the
	// oldest one's creation time, by platform name.
	OutboxPending(ctx context.Context) ([]OutboxPending, error)
}
