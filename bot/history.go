package bot

import "time"

// HistoryMessage is a message as a platform that keeps its own history stores it: the local
// web chat, whose messages no outside service remembers, so that a restart shows them again.
// It lives here, not in the platform's package, so that storage can keep it without knowing a
// chat platform.
type HistoryMessage struct {
	// Channel and ID say where the message is and which it is (the MessageRef's).
	Channel, ID string
	// Pos orders a channel's messages: its place when it was first posted.
	Pos int64
	// Version grows with every change; a store keeps the highest it was given, so writes that
	// arrive out of order never bring an older view back.
	Version int64
	// View is what accessbot said.
	View View
	// PostedAt is when it was posted; UpdatedAt when it last changed (zero if never).
	PostedAt, UpdatedAt time.Time
}
