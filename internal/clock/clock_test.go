package clock

import (
	"testing"
	"time"
)

func fired(t Timer) bool {
	select {
	case <-t.C():
		return true
	default:
		return false
	}
}

func TestFakeTimerFiresOnlyWhenTheClockReachesIt(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tm := f.NewTimer(time.Minute)
	f.Advance(59 * time.Second)
	if fired(tm) {
		t.Fatal("timer fired a second early")
	}
	if at, ok := f.NextTimer(); !ok || !at.Equal(f.Now().Add(time.Second)) {
		t.Fatalf("NextTimer = %v, %v", at, ok)
	}
	f.Advance(time.Second)
	if !fired(tm) {
		t.Fatal("timer did not fire at its time")
	}
	if f.Timers() != 0 {
		t.Fatalf("a fired timer is still waiting")
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	f.Advance(time.Hour)
	if fired(tm) {
		t.Fatal("a stopped timer fired")
	}
	tm.Reset(time.Minute)
	f.Advance(time.Minute)
	if !fired(tm) {
		t.Fatal("a reset timer did not fire")
	}
	tm.Reset(0)
	if !fired(tm) {
		t.Fatal("a timer reset to zero did not fire at once")
	}
}
