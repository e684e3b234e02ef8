package audit_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// TestSessionSeenRoundTrips: the payload decodes to what was encoded, with and without the
// fields a target may not know.
func TestSessionSeenRoundTrips(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 123000, time.UTC)
	for _, tt := range []struct {
		name string
		p    audit.ActivitySessionSeenData
	}{
		{"a postgres session with every field", audit.ActivitySessionSeenData{Session: "pid:7@1", Account: "ab_alice_0123456789",
			Client: "10.0.0.7:5123", Application: "psql", Started: at.Add(-time.Minute), FirstSeen: at, LastSeen: at.Add(time.Hour), Ended: audit.SessionClosed}},
		{"a mysql connection without application or start", audit.ActivitySessionSeenData{Session: "id:42", Account: "ab_bob_01234567",
			FirstSeen: at, LastSeen: at, Ended: audit.SessionGrantEnded}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := audit.Event{Seq: 1}.With(tt.p)
			if e.Type != audit.ActivitySessionSeen {
				t.Fatalf("type %s", e.Type)
			}
			got, err := audit.Decode[audit.ActivitySessionSeenData](e)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Started.Equal(tt.p.Started) || !got.FirstSeen.Equal(tt.p.FirstSeen) || !got.LastSeen.Equal(tt.p.LastSeen) {
				t.Fatalf("times %+v, want %+v", got, tt.p)
			}
			got.Started, got.FirstSeen, got.LastSeen = tt.p.Started, tt.p.FirstSeen, tt.p.LastSeen
			if got != tt.p {
				t.Fatalf("decoded %+v, want %+v", got, tt.p)
			}
		})
	}
}
