package testwait

import (
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and stops the goroutine, as
// the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = format
	panic(r)
}

func TestReceiveReturnsWhatComesAndAClosedChannelsZero(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, ch, "seven"); got != 7 {
		t.Fatalf("Receive = %d, want 7", got)
	}
	close(ch)
	if v, ok := Receive2(t, ch, "the close"); v != 0 || ok {
		t.Fatalf("Receive2 of a closed channel = %d, %v", v, ok)
	}
}

func TestReceiveFailsRatherThanWaitingForever(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the whole Deadline")
	}
	r := &fatalRecorder{TB: t}
	begin := time.Now()
	func() {
		defer func() {
			if p := recover(); p != r {
				t.Fatalf("Receive did not fail the test (recovered %v)", p)
			}
		}()
		Receive(r, make(chan int), "nothing")
	}()
	if took := time.Since(begin); took < Deadline || took > Deadline+5*time.Second {
		t.Errorf("gave up after %s, want %s", took, Deadline)
	}
}
