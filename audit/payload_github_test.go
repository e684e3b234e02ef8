package audit_test

import (
	"maps"
	"testing"

	"github.com/accessbot/accessbot/audit"
)

// TestGitHubLinkPayloadsRoundTripAndLeaveEmptyFieldsOut holds the GitHub link events to the keys
// they write: what is decoded is what was encoded, and an empty optional field writes no key.
func TestGitHubLinkPayloadsRoundTripAndLeaveEmptyFieldsOut(t *testing.T) {
	first := audit.Event{}.With(audit.GitHubLinkedData{Login: "octo", ID: 7, Via: audit.GitHubVia})
	if want := map[string]string{"login": "octo", "github_id": "7", "via": "device_flow"}; !maps.Equal(first.Data, want) || first.Type != audit.GitHubLinked {
		t.Errorf("first link: %s %v, want %v", first.Type, first.Data, want)
	}
	relink := audit.GitHubLinkedData{Login: "octo2", ID: 8, Via: audit.GitHubVia, PreviousLogin: "octo", PreviousID: 7}
	if got, err := audit.Decode[audit.GitHubLinkedData](audit.Event{}.With(relink)); err != nil || got != relink {
		t.Errorf("re-link decoded as %+v, %v", got, err)
	}
	denied := audit.Event{}.With(audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedDenied})
	if want := map[string]string{"refused": "denied"}; !maps.Equal(denied.Data, want) || denied.Type != audit.GitHubLinkRefused {
		t.Errorf("denied: %s %v, want %v", denied.Type, denied.Data, want)
	}
	mismatch := audit.GitHubLinkRefusedData{Refused: audit.GitHubRefusedMismatch, Login: "octo", ID: 7, Claimed: "alice"}
	if got, err := audit.Decode[audit.GitHubLinkRefusedData](audit.Event{}.With(mismatch)); err != nil || got != mismatch {
		t.Errorf("mismatch decoded as %+v, %v", got, err)
	}
	gone := audit.GitHubUnlinkedData{Login: "octo", ID: 7}
	if got, err := audit.Decode[audit.GitHubUnlinkedData](audit.Event{}.With(gone)); err != nil || got != gone {
		t.Errorf("unlink decoded as %+v, %v", got, err)
	}
}
