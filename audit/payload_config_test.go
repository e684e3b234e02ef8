package audit_test

import (
	"reflect"
	"testing"

	"github.com/accessbot/accessbot/audit"
)

func TestAConfigChangeKeepsItsChangesThroughTheLog(t *testing.T) {
	p := audit.ConfigChangedData{Initial: true, SnapshotSHA256: "ab12", ConfigSHA256: "cd34", Changes: []audit.ConfigChange{
		{Key: "policy.prod-db.approvals", Op: audit.ConfigOpChanged, Old: "1", New: "2"},
		{Key: "slack.bot_token", Op: audit.ConfigOpChanged, Secret: true},
	}}
	e := audit.Event{Seq: 3}.With(p)
	if e.Type != audit.ConfigChanged {
		t.Fatalf("type %s", e.Type)
	}
	got, err := audit.Decode[audit.ConfigChangedData](e)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("Decode = %+v, %v; want %+v", got, err, p)
	}
	if out := roundTrip(t, e); !reflect.DeepEqual(out.Data, e.Data) {
		t.Errorf("round trip changed the data: %v", out.Data)
	}
	if s := p.Changes[1].String(); s != "slack.bot_token: changed (secret)" {
		t.Errorf("a secret change reads %q", s)
	}
}
