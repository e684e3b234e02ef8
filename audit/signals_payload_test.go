package audit_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

func TestRequestSignalsRoundTripAndAreLeftOutWhenThereAreNone(t *testing.T) {
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	with := audit.RequestCreatedData{Kind: "access", Duration: time.Hour, ApprovalsNeeded: 2, PendingUntil: at,
		Signals: &audit.RequestSignals{Raised: []string{"first_access", "outside_hours"}, FirstAccess: true,
			FirstAccess90d: true, OutsideHours: true, Requests24h: 3, MedianRequests30d: 0.5, DurationRatio: 1.25}}
	e := audit.Event{}.With(with)
	got, err := audit.Decode[audit.RequestCreatedData](e)
	if err != nil || !reflect.DeepEqual(got, with) {
		t.Fatalf("decoded %+v (%v), want %+v", got, err, with)
	}

	without := with
	without.Signals = nil
	e = audit.Event{}.With(without)
	if _, ok := e.Data[audit.KeySignals]; ok {
		t.Errorf("a request without signals wrote the signals key: %v (old events must hash as written)", e.Data)
	}
	if got, _ := audit.Decode[audit.RequestCreatedData](e); got.Signals != nil {
		t.Errorf("decoded signals %+v from an event without them", got.Signals)
	}

	alert := audit.Event{}.With(audit.AlertRaisedData{Alert: audit.AlertRevokeFailed, Message: "m"})
	if _, ok := alert.Data[audit.KeySeverity]; ok {
		t.Errorf("a built-in alert wrote a severity: %v", alert.Data)
	}
}
